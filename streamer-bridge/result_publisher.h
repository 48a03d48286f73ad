#pragma once

// Results and dead letters to Kafka (idempotent, acks=all, no delivery timeout): a task's
// offset only counts as finished once its records are stored, so a crash can repeat a
// result but never lose one.

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/core/metrics.h"
#include "common/core/sync.h"
#include "common/kafka/kafka_config.h"
#include "common/kafka/kafka_handles.h"
#include "common/kafka/kafka_producer.h"
#include "streamer-bridge/region.h"

namespace cdnwarm::bridge {

class ResultPublisher final : public ResultSink {
 public:
  // `on_health` hears whether the brokers are reachable (false when all are down, true
  // again after a record is stored). `on_lost` runs once, with the reason, when a record
  // can never be stored (refused by the client, failed for good, or the idempotent
  // producer's fatal error): its offset can then never finish, so the partition would
  // stall; the bridge drains and exits so that a new process redelivers (nothing is
  // committed past the lost record).
  static absl::StatusOr<std::unique_ptr<ResultPublisher>> Create(
      const common::KafkaProperties& kafka, std::string results_topic,
      std::string dead_letter_topic, metrics::Registry& registry,
      std::function<void(bool)> on_health = nullptr,
      std::function<void(const std::string&)> on_lost = nullptr, std::string requests_topic = "");
  // Close(10 s), unless closed already.
  ~ResultPublisher() override;

  // Record key: task id. Value: the WarmResult.
  void Result(const cdnwarm::v1::WarmResult& result, std::function<void()> stored) override;
  // Record key: the URL. Value: the WarmTask as it came (so it can be replayed), or for a
  // record that was not a WarmTask that record's own key and bytes. Headers: cdnwarm-error
  // (text), cdnwarm-last-result (a serialised WarmResult), cdnwarm-source-topic,
  // cdnwarm-source-partition and cdnwarm-source-offset (where it was read).
  void DeadLetter(const cdnwarm::v1::WarmTask& task, const cdnwarm::v1::WarmResult& last,
                  const DeadLetterSource& source, std::function<void()> stored) override;

  // Waits for what is queued, up to `timeout`.
  void Flush(absl::Duration timeout) override;
  // Flushes up to `timeout`, then purges what Kafka never acknowledged (brokers down at
  // exit): those offsets stay unfinished, uncommitted, and a new process delivers them
  // again. Nothing may be sent after. Idempotent.
  void Close(absl::Duration timeout);

 private:
  ResultPublisher(std::string results_topic, std::string dead_letter_topic,
                  metrics::Registry& registry);
  struct Pending {
    std::string topic, key, value;
    std::vector<std::pair<std::string, std::string>> headers;
    std::function<void()>* stored;  // owned; the delivery report frees it
  };
  // Never waits: a record the client's queue has no room for waits in `backlog_` for the
  // poller, so no caller (they hold the region's and the service's locks) ever blocks on
  // Kafka. Results are bounded by the deliveries outstanding, so the backlog is too.
  // Copies nothing while the client takes records at once; only what waits in the backlog
  // keeps its own copy.
  void Produce(const std::string& topic, std::string_view key, std::string value,
               std::vector<std::pair<std::string, std::string>> headers,
               std::function<void()> stored);
  // Hands one record to the client: true when taken (or lost for good), false on QUEUE_FULL.
  bool TryProduce(common::KafkaProducer& kafka, const std::string& topic, std::string_view key,
                  std::string_view value,
                  const std::vector<std::pair<std::string, std::string>>& headers,
                  std::function<void()>* stored) ABSL_EXCLUSIVE_LOCKS_REQUIRED(backlog_mu_);
  // The poller's: what waits in the backlog, in order, while the client takes it.
  void DrainBacklog(common::KafkaProducer& kafka);
  void Delivered(const rd_kafka_message_t& m);
  void OnError(rd_kafka_resp_err_t code, const std::string& reason);
  // A record will never be stored: health false for good, on_lost once.
  void Lost(const std::string& reason);
  std::function<void(bool)> on_health_;
  std::function<void(const std::string&)> on_lost_;
  std::atomic<bool> lost_{false};
  bool closed_ = false;  // the owner's thread only

  std::string requests_topic_;  // the dead letters' source topic
  const std::string results_topic_;
  const std::string dead_letter_topic_;
  metrics::Family<metrics::Counter>& records_;
  common::Mutex backlog_mu_;
  std::deque<Pending> backlog_ ABSL_GUARDED_BY(backlog_mu_);
  // Last: its poll thread calls back into the members above, so it goes first.
  std::unique_ptr<common::KafkaProducer> kafka_;
};

}  // namespace cdnwarm::bridge
