#pragma once

// One librdkafka producer as cdnwarm's publishers use it (the producer's tasks, the
// bridge's results and dead letters): durable settings that no properties file can weaken
// (enable.idempotence, acks=all), the client's callbacks routed to its owner, and a thread
// that polls the client for them.
//
// Threads. `delivered` and `error` run on the poll thread, or on a thread in Flush (which
// serves the delivery reports while it waits); `polled` runs on the poll thread after each
// poll. The owner keeps what its callbacks touch alive until Stop returns (the destructor
// stops too).

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/kafka/kafka_config.h"
#include "common/kafka/kafka_handles.h"

namespace cdnwarm::common {

class KafkaProducer {
 public:
  struct Callbacks {
    // Each record's delivery report; its _private is the opaque given to Produce.
    std::function<void(const rd_kafka_message_t&)> delivered;
    // The client's errors. For a fatal one (RD_KAFKA_RESP_ERR__FATAL), `reason` is the
    // underlying fatal error.
    std::function<void(rd_kafka_resp_err_t, const std::string& reason)> error;
    // After each poll (timers, backlogs, gauges). It may start before Create returns.
    std::function<void(KafkaProducer&)> polled;
  };

  // `properties` with the settings every cdnwarm producer must have: enable.idempotence=true
  // and acks=all (a properties file cannot weaken them). Create applies them; a benchmark's
  // bare producer uses them to run with the same settings.
  static KafkaProperties Durable(KafkaProperties properties);

  // `properties` with enable.idempotence=true and acks=all imposed (Durable). `poll_interval`
  // bounds how long a poll waits for events, and so how often `polled` runs.
  static absl::StatusOr<std::unique_ptr<KafkaProducer>> Create(KafkaProperties properties,
                                                               absl::Duration poll_interval,
                                                               Callbacks callbacks);
  ~KafkaProducer();
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;

  // Queues one record (key and value copied). Returns the client's refusal (e.g.
  // __QUEUE_FULL), or null when queued: its delivery report follows.
  KafkaErrorPtr Produce(const std::string& topic, std::string_view key, std::string_view value,
                        void* opaque,
                        const std::vector<std::pair<std::string, std::string>>& headers = {});
  // Waits up to `timeout` for every queued record's delivery report; false when some are
  // still outstanding.
  bool Flush(absl::Duration timeout);
  // Records queued or in flight.
  int QueueLength() const;
  // Stops the poll thread and waits for it. Callbacks still run from Flush and Purge.
  void Stop();
  // Fails what is queued and in flight (delivery reports with __PURGE_QUEUE or
  // __PURGE_INFLIGHT, served here).
  void Purge();

 private:
  explicit KafkaProducer(Callbacks callbacks) : callbacks_(std::move(callbacks)) {}
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque);

  const Callbacks callbacks_;
  KafkaPtr rk_;
  std::atomic<bool> stop_{false};
  std::thread poller_;
};

}  // namespace cdnwarm::common
