#include "tests/support/kafka_test_client.h"

#include <atomic>
#include <cstdlib>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/kafka/kafka_handles.h"

namespace cdnwarm::testing {
namespace {

absl::StatusOr<common::KafkaPtr> NewClient(rd_kafka_type_t type, common::KafkaProperties props) {
  absl::StatusOr<common::KafkaConfPtr> conf = props.ToConf();
  if (!conf.ok()) return conf.status();
  char err[512] = {};
  common::KafkaPtr rk(rd_kafka_new(type, conf->get(), err, sizeof(err)));
  if (!rk) return absl::InternalError(err);
  conf->release();
  return rk;
}

}  // namespace

std::string TestBootstrap() {
  const char* b = std::getenv("CDNWARM_KAFKA_BOOTSTRAP");
  return b != nullptr ? b : "127.0.0.1:29092";
}

common::KafkaProperties TestKafka() {
  common::KafkaProperties p;
  p.Set("bootstrap.servers", TestBootstrap());
  return p;
}

absl::StatusOr<std::vector<Record>> ReadTopic(const std::string& topic) {
  common::KafkaProperties props = TestKafka();
  props.Set("group.id", "cdnwarm.tests.reader");
  props.Set("enable.auto.commit", "false");
  absl::StatusOr<common::KafkaPtr> rk = NewClient(RD_KAFKA_CONSUMER, props);
  if (!rk.ok()) return rk.status();
  rd_kafka_poll_set_consumer(rk->get());

  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk->get(), topic.c_str(), nullptr);
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk->get(), 0, t, &md, 10000);
  rd_kafka_topic_destroy(t);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return absl::UnavailableError(rd_kafka_err2str(err));
  const int partitions = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);

  common::KafkaTopicPartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
  std::map<int32_t, int64_t> end;
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    // A topic created a moment ago may not have its leaders yet: retry for a while.
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while ((err = rd_kafka_query_watermark_offsets(rk->get(), topic.c_str(), p, &low, &high,
                                                   10000)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (absl::Now() > give_up) return absl::UnavailableError(rd_kafka_err2str(err));
      absl::SleepFor(absl::Milliseconds(200));  // waiting for a leader, with a deadline
    }
    if (high > low) {
      end[p] = high;
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = low;
    }
  }
  std::vector<Record> out;
  if (end.empty()) return out;
  rd_kafka_assign(rk->get(), list.get());
  size_t done = 0;
  std::map<int32_t, bool> finished;
  while (done < end.size()) {
    common::KafkaMessagePtr m(rd_kafka_consumer_poll(rk->get(), 30000));
    if (!m) return absl::DeadlineExceededError("no record within 30s while reading back");
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    Record r;
    r.partition = m->partition;
    r.offset = m->offset;
    r.key.assign(static_cast<const char*>(m->key), m->key_len);
    r.value.assign(static_cast<const char*>(m->payload), m->len);
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(m.get(), &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      for (size_t i = 0;
           rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        r.headers.emplace_back(name, std::string(static_cast<const char*>(value), size));
      }
    }
    out.push_back(std::move(r));
    if (m->offset + 1 >= end[m->partition] && !finished[m->partition]) {
      finished[m->partition] = true;
      ++done;
    }
  }
  rd_kafka_consumer_close(rk->get());
  return out;
}

absl::Status ProduceRecords(const std::string& topic,
                            const std::vector<std::pair<std::string, std::string>>& records) {
  common::KafkaProperties props = TestKafka();
  props.Set("acks", "all");
  props.Set("message.timeout.ms", "30000");
  absl::StatusOr<common::KafkaConfPtr> conf = props.ToConf();
  if (!conf.ok()) return conf.status();
  std::atomic<int> failed{0};
  rd_kafka_conf_set_dr_msg_cb(conf->get(), [](rd_kafka_t*, const rd_kafka_message_t* m, void* o) {
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) ++*static_cast<std::atomic<int>*>(o);
  });
  rd_kafka_conf_set_opaque(conf->get(), &failed);
  char err[512] = {};
  common::KafkaPtr producer(rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), err, sizeof(err)));
  if (!producer) return absl::InternalError(err);
  conf->release();
  common::KafkaPtr* rk = &producer;
  for (const auto& [key, value] : records) {
    if (common::KafkaErrorPtr e = common::ProduceCopy(rk->get(), topic, key, value)) {
      return absl::InternalError(rd_kafka_error_string(e.get()));
    }
  }
  if (rd_kafka_flush(rk->get(), 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::DeadlineExceededError("flush");
  }
  if (failed > 0) {
    return absl::UnavailableError(
        absl::StrCat(failed.load(), " records were not delivered to ", topic));
  }
  return absl::OkStatus();
}

}  // namespace cdnwarm::testing
