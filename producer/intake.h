#pragma once

// The path every URL takes into Kafka, whichever RPC brought it: validate, canonicalise,
// check the host policy, build the task, publish, and count the task for its job once the
// broker acknowledged it.

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/fetch/ssrf_guard.h"
#include "common/fetch/url_canon.h"
#include "producer/job_tracker.h"
#include "producer/task_factory.h"
#include "producer/task_publisher.h"

namespace cdnwarm::producer {

class Intake {
 public:
  Intake(const common::FetchGuard& guard, TaskPublisher& publisher, JobTracker& tracker)
      : guard_(guard), publisher_(publisher), tracker_(tracker) {}

  // INVALID_ARGUMENT naming `field` for a bad URL; PERMISSION_DENIED for a host outside the
  // allow-list or a literal address in a refused range.
  absl::StatusOr<common::CanonicalUrl> Validate(absl::string_view raw,
                                                absl::string_view field = "url") const;

  // Publishes task `index` of `job_id` on `lane`; `done` gets the broker's answer.
  void Enqueue(const std::string& job_id, uint32_t index, const common::CanonicalUrl& url,
               const TaskTemplate& options, Lane lane, absl::Time deadline, PublishCallback done);

  // Records that `job_id`'s expansion stopped at its limit, on the results topic (every
  // replica's job view reads it there); `done` gets the broker's answer.
  void NoteTruncation(const std::string& job_id, const cdnwarm::v1::Truncation& truncated,
                      absl::Time deadline, PublishCallback done);

 private:
  const common::FetchGuard& guard_;
  TaskPublisher& publisher_;
  JobTracker& tracker_;
};

}  // namespace cdnwarm::producer
