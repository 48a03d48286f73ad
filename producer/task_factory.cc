#include "producer/task_factory.h"

#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/core/naming.h"
#include "common/core/proto_time.h"
#include "common/fetch/task_validation.h"

namespace cdnwarm::producer {
namespace {

constexpr size_t kMaxSourceBytes = 128;

}  // namespace

absl::StatusOr<TaskTemplate> ValidateOptions(const cdnwarm::v1::TaskOptions& options,
                                             const std::vector<std::string>& known_regions,
                                             absl::string_view field) {
  TaskTemplate t;
  t.options = options;
  if (absl::Status s = common::ValidateTargetRegions(options.target_regions(),
                                                     absl::StrCat(field, ".target_regions"));
      !s.ok()) {
    return s;
  }
  for (int i = 0; i < options.target_regions_size(); ++i) {
    if (absl::Status s =
            common::CheckKnownRegion(options.target_regions(i), known_regions,
                                     absl::StrCat(field, ".target_regions[", i, "]: region "));
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s =
          common::ValidateVariants(options.variants(), absl::StrCat(field, ".variants"));
      !s.ok()) {
    return s;
  }
  if (options.has_ttl()) {
    const absl::Duration ttl = common::FromProtoDuration(options.ttl());
    if (ttl < absl::Seconds(1) || ttl > absl::Hours(24 * 7)) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".ttl: ", absl::FormatDuration(ttl),
                                                     " is not between 1s and 7 days"));
    }
    t.ttl = ttl;
  }
  if (options.source().size() > kMaxSourceBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".source: is longer than ", kMaxSourceBytes, " bytes"));
  }
  return t;
}

std::string NewJobId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrFormat("j%016x%08x", rng(), static_cast<uint32_t>(rng()));
}

std::string TaskId(absl::string_view job_id, uint32_t index) {
  return absl::StrCat(job_id, "/", index);
}

bool ParseTaskId(absl::string_view task_id, std::string* job_id, uint32_t* index) {
  const size_t slash = task_id.rfind('/');
  if (slash == absl::string_view::npos || slash == 0) return false;
  if (!absl::SimpleAtoi(task_id.substr(slash + 1), index)) return false;
  *job_id = std::string(task_id.substr(0, slash));
  return true;
}

cdnwarm::v1::WarmTask MakeTask(const TaskTemplate& t, absl::string_view job_id, uint32_t index,
                               absl::string_view canonical_url, absl::Time now) {
  cdnwarm::v1::WarmTask task;
  task.set_task_id(TaskId(job_id, index));
  task.set_job_id(std::string(job_id));
  task.set_url(std::string(canonical_url));
  *task.mutable_target_regions() = t.options.target_regions();
  *task.mutable_variants() = t.options.variants();
  *task.mutable_enqueued_at() = common::ToProtoTimestamp(now);
  if (t.ttl.has_value()) *task.mutable_not_after() = common::ToProtoTimestamp(now + *t.ttl);
  task.set_source(t.options.source());
  return task;
}

}  // namespace cdnwarm::producer
