#include "streamer-bridge/result_publisher.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/core/log.h"
#include "common/core/sync.h"

namespace cdnwarm::bridge {

ResultPublisher::ResultPublisher(std::string results_topic, std::string dead_letter_topic,
                                 metrics::Registry& registry)
    : results_topic_(std::move(results_topic)),
      dead_letter_topic_(std::move(dead_letter_topic)),
      records_(registry.AddCounter("cdnwarm_bridge_records_produced_total",
                                   "Result and dead-letter records, by topic kind and result",
                                   {"kind", "result"})) {}

absl::StatusOr<std::unique_ptr<ResultPublisher>> ResultPublisher::Create(
    const common::KafkaProperties& kafka, std::string results_topic, std::string dead_letter_topic,
    metrics::Registry& registry, std::function<void(bool)> on_health,
    std::function<void(const std::string&)> on_lost, std::string requests_topic) {
  common::KafkaProperties props = kafka;  // idempotent, acks=all: common::KafkaProducer
  props.Set("message.timeout.ms", "0");   // keep trying: the commit waits for these records
  if (props.Find("queue.buffering.max.messages") == nullptr) {
    props.Set("queue.buffering.max.messages", "1000000");
  }
  if (props.Find("linger.ms") == nullptr) props.Set("linger.ms", "5");
  std::unique_ptr<ResultPublisher> p(
      new ResultPublisher(std::move(results_topic), std::move(dead_letter_topic), registry));
  p->on_health_ = std::move(on_health);
  p->on_lost_ = std::move(on_lost);
  p->requests_topic_ = std::move(requests_topic);
  ResultPublisher* raw = p.get();
  absl::StatusOr<std::unique_ptr<common::KafkaProducer>> producer = common::KafkaProducer::Create(
      props, absl::Milliseconds(50),
      {.delivered = [raw](const rd_kafka_message_t& m) { raw->Delivered(m); },
       .error = [raw](rd_kafka_resp_err_t code,
                      const std::string& reason) { raw->OnError(code, reason); },
       .polled = [raw](common::KafkaProducer& k) { raw->DrainBacklog(k); }});
  if (!producer.ok()) return producer.status();
  p->kafka_ = *std::move(producer);
  return p;
}

ResultPublisher::~ResultPublisher() {
  Close(absl::Seconds(10));
  common::MutexLock lock(&backlog_mu_);
  for (Pending& p : backlog_) delete p.stored;
}

void ResultPublisher::Close(absl::Duration timeout) {
  if (closed_ || !kafka_) return;  // kafka_ is null when Create failed
  closed_ = true;
  Flush(timeout);
  kafka_->Stop();
  kafka_->Purge();
}

void ResultPublisher::Flush(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    {
      common::MutexLock lock(&backlog_mu_);
      if (backlog_.empty()) break;
    }
    if (absl::Now() >= deadline) break;
    kafka_->Flush(absl::Milliseconds(100));  // makes room for the backlog the poller hands over
  }
  kafka_->Flush(deadline - absl::Now());
}

void ResultPublisher::Delivered(const rd_kafka_message_t& m) {
  std::unique_ptr<std::function<void()>> stored(static_cast<std::function<void()>*>(m._private));
  const std::string topic = rd_kafka_topic_name(m.rkt);
  const char* kind = topic == results_topic_ ? "result" : "dead_letter";
  if (m.err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m.err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
    records_.Labels({kind, "purged_at_exit"}).Increment();
    return;
  }
  if (m.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Not finished: the partition's commit stays behind this offset, so it is redelivered
    // after a restart rather than lost.
    records_.Labels({kind, "failed"}).Increment();
    Lost(absl::StrCat("a ", kind, " record to ", topic,
                      " was not stored: ", rd_kafka_err2str(m.err)));
    return;
  }
  records_.Labels({kind, "stored"}).Increment();
  if (on_health_ && !lost_) on_health_(true);
  if (stored && *stored) (*stored)();
}

void ResultPublisher::OnError(rd_kafka_resp_err_t code, const std::string& reason) {
  log::Warn("Kafka client error", {{"error", rd_kafka_err2name(code)}, {"reason", reason}});
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && on_health_) on_health_(false);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    Lost(absl::StrCat("the result producer failed for good: ", reason));
  }
}

void ResultPublisher::Lost(const std::string& reason) {
  const bool first = !lost_.exchange(true);  // before health, so no "true" follows it
  if (on_health_) on_health_(false);
  if (!first) return;
  log::Error("a record can never be stored; draining so that a new process redelivers",
             {{"reason", reason}});
  if (on_lost_) on_lost_(reason);
}

void ResultPublisher::Produce(const std::string& topic, std::string_view key, std::string value,
                              std::vector<std::pair<std::string, std::string>> headers,
                              std::function<void()> stored) {
  auto* done = new std::function<void()>(std::move(stored));
  common::MutexLock lock(&backlog_mu_);
  // Behind what already waits, so records go out in the order they came.
  if (backlog_.empty() && TryProduce(*kafka_, topic, key, value, headers, done)) return;
  backlog_.push_back(Pending{topic, std::string(key), std::move(value), std::move(headers), done});
}

bool ResultPublisher::TryProduce(common::KafkaProducer& kafka, const std::string& topic,
                                 std::string_view key, std::string_view value,
                                 const std::vector<std::pair<std::string, std::string>>& headers,
                                 std::function<void()>* stored) {
  common::KafkaErrorPtr error = kafka.Produce(topic, key, value, stored, headers);
  if (!error) return true;
  if (rd_kafka_error_code(error.get()) == RD_KAFKA_RESP_ERR__QUEUE_FULL) return false;
  records_.Labels({topic == results_topic_ ? "result" : "dead_letter", "refused"}).Increment();
  Lost(absl::StrCat("the Kafka client refused a record to ", topic, ": ",
                    rd_kafka_error_string(error.get())));
  delete stored;
  return true;
}

void ResultPublisher::DrainBacklog(common::KafkaProducer& kafka) {
  common::MutexLock lock(&backlog_mu_);
  while (!backlog_.empty()) {
    Pending& p = backlog_.front();
    if (!TryProduce(kafka, p.topic, p.key, p.value, p.headers, p.stored)) return;
    backlog_.pop_front();
  }
}

void ResultPublisher::Result(const cdnwarm::v1::WarmResult& result, std::function<void()> stored) {
  // Keyed by job: a job's results share a partition, in the order they were decided.
  Produce(results_topic_, result.job_id(), result.SerializeAsString(), {}, std::move(stored));
}

void ResultPublisher::DeadLetter(const cdnwarm::v1::WarmTask& task,
                                 const cdnwarm::v1::WarmResult& last,
                                 const DeadLetterSource& source, std::function<void()> stored) {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"cdnwarm-error", last.error()},
      {"cdnwarm-last-result", last.SerializeAsString()},
      {"cdnwarm-source-topic", requests_topic_},
      {"cdnwarm-source-partition", absl::StrCat(source.partition)},
      {"cdnwarm-source-offset", absl::StrCat(source.offset)}};
  if (source.raw_value != nullptr) {
    Produce(dead_letter_topic_, source.raw_key != nullptr ? *source.raw_key : "", *source.raw_value,
            std::move(headers), std::move(stored));
    return;
  }
  Produce(dead_letter_topic_, task.url(), task.SerializeAsString(), std::move(headers),
          std::move(stored));
}

}  // namespace cdnwarm::bridge
