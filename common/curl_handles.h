#pragma once

// RAII owners for libcurl handles, and the process-wide libcurl initialisation.

#include <memory>
#include <string>

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

// Appends a copy of `item`; false when libcurl could not allocate (the list is unchanged).
inline bool AppendToSlist(CurlSlistPtr& list, const std::string& item) {
  curl_slist* next = curl_slist_append(list.get(), item.c_str());
  if (next == nullptr) return false;
  (void)list.release();  // `next` is the same list, extended (or a new head when it was empty)
  list.reset(next);
  return true;
}

// curl_global_init, once per process, before any thread uses libcurl. Safe to call often.
void EnsureCurlInitialized();

}  // namespace cdnwarm::common
