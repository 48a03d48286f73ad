#pragma once

// RAII owners for libcurl handles, and the process-wide libcurl initialisation.

#include <memory>
#include <string>

#include "common/core/c_handle.h"
#include "curl/curl.h"

namespace cdnwarm::common {

using CurlEasyPtr = CHandle<CURL, curl_easy_cleanup>;
using CurlMultiPtr = CHandle<CURLM, curl_multi_cleanup>;
using CurlUrlPtr = CHandle<CURLU, curl_url_cleanup>;
using CurlSlistPtr = CHandle<curl_slist, curl_slist_free_all>;
// A string libcurl allocated (curl_url_get and friends).
using CurlStringPtr = CHandle<char, curl_free>;

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
