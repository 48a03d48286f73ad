#pragma once

// Checks of the request parts every service that accepts warm requests shares: request
// variants (extra headers per GET) and target regions.

#include "absl/status/status.h"
#include "cdnwarm/v1/common.pb.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace cdnwarm::common {

inline constexpr int kMaxVariants = 8;
inline constexpr int kMaxHeadersPerVariant = 16;
inline constexpr size_t kMaxHeaderNameBytes = 128;
inline constexpr size_t kMaxHeaderValueBytes = 1024;
inline constexpr size_t kMaxVariantNameBytes = 64;
inline constexpr int kMaxTargetRegions = 64;

// Header names are RFC 9110 tokens; values printable ASCII, spaces and tabs (no CR/LF).
// Headers that would change the request's framing or destination (Host, Content-Length,
// Transfer-Encoding, Connection, ...) are refused. Errors name the field, e.g.
// "options.variants[1].headers[0].name: ...".
absl::Status ValidateVariants(
    const google::protobuf::RepeatedPtrField<cdnwarm::v1::RequestVariant>& variants,
    absl::string_view field);

absl::Status ValidateTargetRegions(const google::protobuf::RepeatedPtrField<std::string>& regions,
                                   absl::string_view field);

}  // namespace cdnwarm::common
