#pragma once

// Names of Kafka topics and consumer groups, and the rules for the parts they are built
// from. An instance suffix lets isolated cdnwarm instances share one Kafka cluster.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cdnwarm::common {

// Default base names of the three topics.
inline constexpr absl::string_view kRequestsTopic = "warm.requests";
inline constexpr absl::string_view kResultsTopic = "warm.results";
inline constexpr absl::string_view kDeadLetterTopic = "warm.dlq";
// The streamer-bridge replicas' control topic (Seek across replicas).
inline constexpr absl::string_view kBridgeControlTopic = "warm.bridge-control";
// Default prefix of the per-region consumer groups.
inline constexpr absl::string_view kRegionGroupPrefix = "cdnwarm.bridge";

// An instance suffix is empty (none) or matches ^[a-z][a-z0-9]{0,15}$.
absl::Status ValidateInstance(absl::string_view instance);

// A region name matches ^[a-z][a-z0-9-]{0,31}$ and does not end with '-'.
absl::Status ValidateRegion(absl::string_view region);

// OK when `known` (a deployment's --regions) is empty or lists `region`; otherwise
// INVALID_ARGUMENT: `<prefix>"<region>" is not one of this deployment's regions (a, b)`.
absl::Status CheckKnownRegion(absl::string_view region, const std::vector<std::string>& known,
                              absl::string_view prefix);

// `base` with "-<instance>" appended when an instance is set. `instance` must be valid.
std::string WithInstance(absl::string_view base, absl::string_view instance);

// Consumer group of a region: "<prefix>.<region>[-<instance>]". Validates both parts.
absl::StatusOr<std::string> RegionGroup(absl::string_view prefix, absl::string_view region,
                                        absl::string_view instance);

}  // namespace cdnwarm::common
