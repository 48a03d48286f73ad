// Ack-id decoding: whatever a subscriber sends as an ack id never crashes the bridge, and
// a decoded id is exactly "replica-1.<region>.<incarnation>.<seq>" of the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "streamer-bridge/region.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view ack_id(reinterpret_cast<const char*>(data), size);
  cdnwarm::bridge::AckIdParts parts;
  if (cdnwarm::bridge::ParseAckId(ack_id, "replica-1", &parts)) {
    if (parts.region.empty() || parts.region.find('.') != std::string::npos) std::abort();
    if (parts.incarnation.size() != 16) std::abort();
    if (ack_id != absl::StrCat("replica-1.", parts.region, ".", parts.incarnation, ".",
                               ack_id.substr(ack_id.rfind('.') + 1))) {
      std::abort();
    }
    uint64_t again = 0;
    if (!absl::SimpleAtoi(ack_id.substr(ack_id.rfind('.') + 1), &again) || again != parts.seq) {
      std::abort();
    }
  }
  return 0;
}
