// Ack-id decoding: whatever a subscriber sends as an ack id never crashes the bridge, and
// a decoded id is exactly "replica-1.<region>.<seq>" of the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "streamer-bridge/region.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view ack_id(reinterpret_cast<const char*>(data), size);
  std::string region;
  uint64_t seq = 0;
  if (cdnwarm::bridge::ParseAckId(ack_id, "replica-1", &region, &seq)) {
    const std::string prefix = absl::StrCat("replica-1.", region, ".");
    if (region.empty() || region.find('.') != std::string::npos) std::abort();
    uint64_t again = 0;
    if (!absl::StartsWith(ack_id, prefix) ||
        !absl::SimpleAtoi(ack_id.substr(prefix.size()), &again) || again != seq) {
      std::abort();
    }
  }
  return 0;
}
