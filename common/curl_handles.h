#pragma once

// RAII owners for libcurl handles, and the process-wide libcurl initialisation.

#include <memory>

#include "curl/curl.h"

namespace cdnwarm::common {

namespace internal {
template <auto Cleanup>
struct CurlDeleter {
  template <typename T>
  void operator()(T* p) const {
    if (p != nullptr) Cleanup(p);
  }
};
}  // namespace internal

using CurlEasyPtr = std::unique_ptr<CURL, internal::CurlDeleter<curl_easy_cleanup>>;
using CurlMultiPtr = std::unique_ptr<CURLM, internal::CurlDeleter<curl_multi_cleanup>>;
using CurlUrlPtr = std::unique_ptr<CURLU, internal::CurlDeleter<curl_url_cleanup>>;
using CurlSlistPtr = std::unique_ptr<curl_slist, internal::CurlDeleter<curl_slist_free_all>>;

// A string libcurl allocated (curl_url_get and friends).
struct CurlFree {
  void operator()(char* p) const { curl_free(p); }
};
using CurlStringPtr = std::unique_ptr<char, CurlFree>;

// curl_global_init, once per process, before any thread uses libcurl. Safe to call often.
void EnsureCurlInitialized();

}  // namespace cdnwarm::common
