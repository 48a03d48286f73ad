#pragma once

// Turns validated request options and canonical URLs into WarmTasks with job and task ids.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cdnwarm/v1/common.pb.h"
#include "cdnwarm/v1/producer.pb.h"

namespace cdnwarm::producer {

// Options shared by every task of a job, already validated.
struct TaskTemplate {
  cdnwarm::v1::TaskOptions options;
  std::optional<absl::Duration> ttl;
};

// Validates TaskOptions (regions, variants, ttl 1s..7d, source at most 128 bytes). Errors
// are INVALID_ARGUMENT naming the field under `field`, e.g. "options.ttl: ...". A target
// region not in `known_regions` (the deployment's --regions) is refused, naming it; an
// empty `known_regions` accepts any well-formed name.
absl::StatusOr<TaskTemplate> ValidateOptions(const cdnwarm::v1::TaskOptions& options,
                                             const std::vector<std::string>& known_regions,
                                             absl::string_view field = "options");

// A new random job id: "j" followed by 24 hex digits.
std::string NewJobId();

// Task ids are "<job_id>/<index>", so results can be counted per job without state.
std::string TaskId(absl::string_view job_id, uint32_t index);
// Splits a task id; false for ids this producer did not make.
bool ParseTaskId(absl::string_view task_id, std::string* job_id, uint32_t* index);

cdnwarm::v1::WarmTask MakeTask(const TaskTemplate& t, absl::string_view job_id, uint32_t index,
                               absl::string_view canonical_url, absl::Time now);

}  // namespace cdnwarm::producer
