#pragma once

// RAII owners for librdkafka C handles. Every handle the project creates lives in one.

#include <memory>

#include "librdkafka/rdkafka.h"

namespace cdnwarm::common {

namespace internal {
template <auto Destroy>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    if (p != nullptr) Destroy(p);
  }
};
}  // namespace internal

using KafkaPtr = std::unique_ptr<rd_kafka_t, internal::Deleter<rd_kafka_destroy>>;
using KafkaQueuePtr = std::unique_ptr<rd_kafka_queue_t, internal::Deleter<rd_kafka_queue_destroy>>;
using KafkaEventPtr = std::unique_ptr<rd_kafka_event_t, internal::Deleter<rd_kafka_event_destroy>>;
using KafkaNewTopicPtr =
    std::unique_ptr<rd_kafka_NewTopic_t, internal::Deleter<rd_kafka_NewTopic_destroy>>;
using KafkaAdminOptionsPtr =
    std::unique_ptr<rd_kafka_AdminOptions_t, internal::Deleter<rd_kafka_AdminOptions_destroy>>;
using KafkaTopicPartitionListPtr =
    std::unique_ptr<rd_kafka_topic_partition_list_t,
                    internal::Deleter<rd_kafka_topic_partition_list_destroy>>;
using KafkaMessagePtr =
    std::unique_ptr<rd_kafka_message_t, internal::Deleter<rd_kafka_message_destroy>>;

}  // namespace cdnwarm::common
