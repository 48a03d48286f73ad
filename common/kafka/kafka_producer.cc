#include "common/kafka/kafka_producer.h"

#include "absl/strings/str_cat.h"

namespace cdnwarm::common {

KafkaProperties KafkaProducer::Durable(KafkaProperties properties) {
  // The promise of an OK reply, and of a commit, rests on these.
  properties.Set("enable.idempotence", "true");
  properties.Set("acks", "all");
  return properties;
}

absl::StatusOr<std::unique_ptr<KafkaProducer>> KafkaProducer::Create(KafkaProperties properties,
                                                                     absl::Duration poll_interval,
                                                                     Callbacks callbacks) {
  absl::StatusOr<KafkaConfPtr> conf = Durable(std::move(properties)).ToConf();
  if (!conf.ok()) return conf.status();
  std::unique_ptr<KafkaProducer> p(new KafkaProducer(std::move(callbacks)));
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &KafkaProducer::OnDelivery);
  rd_kafka_conf_set_error_cb(conf->get(), &KafkaProducer::OnError);
  rd_kafka_conf_set_opaque(conf->get(), p.get());
  absl::StatusOr<KafkaPtr> rk = NewKafkaClient(RD_KAFKA_PRODUCER, *std::move(conf));
  if (!rk.ok()) return rk.status();
  p->rk_ = *std::move(rk);
  const int poll_ms = static_cast<int>(absl::ToInt64Milliseconds(poll_interval));
  p->poller_ = std::thread([raw = p.get(), poll_ms] {
    while (!raw->stop_) {
      rd_kafka_poll(raw->rk_.get(), poll_ms);
      if (raw->callbacks_.polled) raw->callbacks_.polled(*raw);
    }
  });
  return p;
}

KafkaProducer::~KafkaProducer() { Stop(); }

void KafkaProducer::Stop() {
  stop_ = true;
  if (poller_.joinable()) poller_.join();
}

KafkaErrorPtr KafkaProducer::Produce(
    const std::string& topic, std::string_view key, std::string_view value, void* opaque,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  return ProduceCopy(rk_.get(), topic, key, value, opaque, headers);
}

bool KafkaProducer::Flush(absl::Duration timeout) {
  const int ms = static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(timeout)));
  return rd_kafka_flush(rk_.get(), ms) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

int KafkaProducer::QueueLength() const { return rd_kafka_outq_len(rk_.get()); }

void KafkaProducer::Purge() {
  rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_poll(rk_.get(), 0);  // their delivery reports free what they carry
}

void KafkaProducer::OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<KafkaProducer*>(opaque);
  if (self->callbacks_.delivered) self->callbacks_.delivered(*m);
}

void KafkaProducer::OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<KafkaProducer*>(opaque);
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  std::string why = reason != nullptr ? reason : "";
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal[512] = {};
    rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    why = fatal;
  }
  if (self->callbacks_.error) self->callbacks_.error(code, why);
}

}  // namespace cdnwarm::common
