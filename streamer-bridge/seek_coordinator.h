#pragma once

// Seek across every replica of the bridge. A region's partitions are spread over the
// replicas that have its subscribers, and only the group member holding a partition can
// move it. So a Seek is a command on the bridge's control topic: every replica reads it,
// moves the partitions of the region it holds (its LocalSeek) and reports on the same
// topic. The replica the operator called answers once the reports cover every partition
// of the requests topic, or at the deadline naming the partitions nobody moved.
//
// One thread reads the control topic, runs this replica's share of each seek, and answers
// the seeks called here. Commands older than the reader (read from the topic's end as of
// Create) and commands past their deadline are ignored.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cdnwarm/v1/bridge.pb.h"
#include "cdnwarm/v1/bridge_control.pb.h"
#include "common/core/sync.h"
#include "common/kafka/kafka_config.h"
#include "common/kafka/kafka_handles.h"

namespace cdnwarm::bridge {

struct SeekOptions {
  std::string control_topic;
  std::string requests_topic;
  std::string replica;
  // How long a seek waits for the replicas' reports, at most (the call's deadline may be
  // shorter).
  absl::Duration timeout = absl::Seconds(30);
  // How long Create waits for the control topic to show in the metadata with a leader (a
  // topic created a moment ago takes a while).
  absl::Duration start_timeout = absl::Seconds(15);
};

class SeekCoordinator {
 public:
  // This replica's share of a seek of `group`: what it moved and what it holds but could
  // not move; nullopt when it is not a member of the group. Gives up at `deadline`.
  using LocalSeek = std::function<std::optional<cdnwarm::v1::SeekReport>(
      const cdnwarm::v1::SeekRequest&, const std::string& group, absl::Time deadline)>;
  using Done = std::function<void(absl::StatusOr<std::vector<cdnwarm::v1::PartitionInfo>>)>;

  // The control topic's producer and reader, positioned at the topic's end. Nothing is
  // read before Start. UNAVAILABLE when the topic is not there after `start_timeout`.
  static absl::StatusOr<std::unique_ptr<SeekCoordinator>> Create(
      const common::KafkaProperties& kafka, SeekOptions options);

  // Starts reading: commands get `local`'s share, reports answer the seeks called here.
  void Start(LocalSeek local);
  // SIGTERM: no new shares; the seeks waiting are answered UNAVAILABLE now, on the calling
  // thread (a share in progress finishes on the coordinator's thread, which the
  // destructor joins). Idempotent, and never waits for Kafka.
  void Stop();
  // Destroy before whatever `local` calls into.
  ~SeekCoordinator();

  // Moves every partition of `group` (region `request.region()`'s group) on whichever
  // replica holds it, answering before `deadline`. `done` runs exactly once: on the
  // coordinator's thread, or on the thread calling Seek or Stop once stopped.
  void Seek(const cdnwarm::v1::SeekRequest& request, std::string group, absl::Time deadline,
            Done done);

 private:
  struct Pending {
    cdnwarm::v1::SeekRequest request;
    std::string group;
    absl::Time deadline;
    Done done;
    int partitions = 0;  // of the requests topic; 0 until the command is out
    std::map<int32_t, cdnwarm::v1::PartitionInfo> moved;
    std::map<int32_t, std::string> not_moved;  // partition -> replica's reason
  };
  explicit SeekCoordinator(SeekOptions options);
  void Run();
  bool stopped();
  // Sends the command of a seek called here; false when it was answered instead.
  bool Broadcast(const std::string& id, Pending& p);
  void Handle(const rd_kafka_message_t& m);
  // The answer to `p` once its reports cover every partition (or some partition failed),
  // or at the deadline whatever they cover; nullopt while it should wait.
  static std::optional<absl::StatusOr<std::vector<cdnwarm::v1::PartitionInfo>>> Outcome(
      const Pending& p, bool at_deadline);
  absl::Status Produce(const std::string& key, const cdnwarm::v1::BridgeControl& record);

  const SeekOptions options_;
  // The last delivery report; written by the producer's callback, which runs on the
  // coordinator's thread (in Produce's flush). Declared before the producer it outlives.
  rd_kafka_resp_err_t last_delivery_ = RD_KAFKA_RESP_ERR_NO_ERROR;
  common::KafkaPtr producer_;
  common::KafkaPtr reader_;
  LocalSeek local_;
  std::thread thread_;

  // Innermost: nothing is called out while it is held.
  common::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::pair<std::string, Pending>> queued_ ABSL_GUARDED_BY(mu_);
  // Seeks broadcast from here, by id, waiting for reports.
  std::map<std::string, Pending> pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cdnwarm::bridge
