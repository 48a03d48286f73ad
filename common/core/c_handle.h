#pragma once

// RAII for a C library's handles: a std::unique_ptr that frees with the library's own
// function. One template for every library (librdkafka, libcurl, expat):
//   using KafkaPtr = common::CHandle<rd_kafka_t, rd_kafka_destroy>;

#include <memory>

namespace cdnwarm::common {

template <auto Free>
struct FreeWith {
  template <typename T>
  void operator()(T* p) const {
    if (p != nullptr) Free(p);
  }
};

template <typename T, auto Free>
using CHandle = std::unique_ptr<T, FreeWith<Free>>;

}  // namespace cdnwarm::common
