#pragma once

// Reads the requests and results topics (every partition, from `window` ago onwards) into
// the JobTracker, on its own thread. No consumer group: every replica reads everything,
// so job state is the same on all replicas and survives restarts.

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/core/metrics.h"
#include "common/kafka/kafka_config.h"
#include "common/kafka/kafka_handles.h"
#include "producer/job_tracker.h"

namespace cdnwarm::producer {

struct JobFeedOptions {
  common::KafkaProperties kafka;
  std::string requests_topic;
  std::string results_topic;
  absl::Duration window = absl::Hours(24);
  // How long Start waits for each topic to show in the metadata, and then for the offsets
  // of its partitions: a topic created a moment ago takes a while to have leaders.
  absl::Duration start_timeout = absl::Seconds(30);
};

class JobFeed {
 public:
  // Looks up both topics' partitions and their offsets at now - window, then starts
  // reading. Errors name the topic: FAILED_PRECONDITION for one that is not there after
  // `start_timeout`.
  static absl::StatusOr<std::unique_ptr<JobFeed>> Start(JobFeedOptions options, JobTracker& tracker,
                                                        metrics::Registry& registry);
  ~JobFeed();

 private:
  JobFeed(JobFeedOptions options, JobTracker& tracker, metrics::Registry& registry);
  absl::Status AssignFromWindow();
  void Run();

  const JobFeedOptions options_;
  JobTracker& tracker_;
  metrics::Family<metrics::Counter>& records_;
  // records_'s children, looked up once: every record counts in one.
  metrics::Counter& requests_ok_;
  metrics::Counter& requests_unparsable_;
  metrics::Counter& results_ok_;
  metrics::Counter& results_unparsable_;
  common::KafkaPtr rk_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace cdnwarm::producer
