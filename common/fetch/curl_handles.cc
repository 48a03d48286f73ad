#include "common/fetch/curl_handles.h"

#include <mutex>

namespace cdnwarm::common {

void EnsureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace cdnwarm::common
