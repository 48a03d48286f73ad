#include "producer/result_reader.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/kafka/kafka_admin.h"
#include "common/kafka/kafka_handles.h"

namespace cdnwarm::producer {
namespace {

// Records a producer's clock may be behind the job's creation time by.
constexpr absl::Duration kClockSkew = absl::Minutes(1);
constexpr absl::Duration kMaxReadPerPage = absl::Seconds(5);

int TimeoutMs(absl::Time deadline) {
  return static_cast<int>(
      std::clamp<int64_t>(absl::ToInt64Milliseconds(deadline - absl::Now()), 1, 30000));
}

}  // namespace

ResultReader::ResultReader(common::KafkaProperties kafka, std::string topic)
    : kafka_(std::move(kafka)), topic_(std::move(topic)) {}

absl::StatusOr<int32_t> ResultReader::PartitionOf(const std::string& partitioner,
                                                  const std::string& key, int32_t partitions) {
  using Partitioner =
      int32_t (*)(const rd_kafka_topic_t*, const void*, size_t, int32_t, void*, void*);
  Partitioner f = nullptr;
  if (partitioner.empty() || partitioner == "consistent_random") {
    f = rd_kafka_msg_partitioner_consistent_random;
  } else if (partitioner == "consistent") {
    f = rd_kafka_msg_partitioner_consistent;
  } else if (partitioner == "murmur2_random") {
    f = rd_kafka_msg_partitioner_murmur2_random;
  } else if (partitioner == "murmur2") {
    f = rd_kafka_msg_partitioner_murmur2;
  } else if (partitioner == "fnv1a_random") {
    f = rd_kafka_msg_partitioner_fnv1a_random;
  } else if (partitioner == "fnv1a") {
    f = rd_kafka_msg_partitioner_fnv1a;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("partitioner \"", partitioner, "\": results cannot be found by job"));
  }
  // With a key the keyed partitioners never look at the topic handle.
  return f(nullptr, key.data(), key.size(), partitions, nullptr, nullptr);
}

std::string ResultReader::Token(int64_t offset) { return absl::StrCat(offset); }

absl::StatusOr<int64_t> ResultReader::ParseToken(const std::string& token) {
  int64_t offset = 0;
  if (!absl::SimpleAtoi(token, &offset) || offset < 0) {
    return absl::InvalidArgumentError("page_token: not a token this producer gave");
  }
  return offset;
}

absl::StatusOr<cdnwarm::v1::ListResultsReply> ResultReader::Read(const ResultQuery& q) const {
  common::KafkaProperties props = kafka_;
  props.Set("enable.auto.commit", "false");
  props.Set("enable.auto.offset.store", "false");
  // The end of the partition ends the page even where offsets have gaps below it.
  props.Set("enable.partition.eof", "true");
  if (props.Find("group.id") == nullptr) props.Set("group.id", "cdnwarm.producer.results");
  absl::StatusOr<common::KafkaConfPtr> conf = props.ToConf();
  if (!conf.ok()) return conf.status();
  absl::StatusOr<common::KafkaPtr> client =
      common::NewKafkaClient(RD_KAFKA_CONSUMER, *std::move(conf));
  if (!client.ok()) return client.status();
  const common::KafkaPtr rk = *std::move(client);
  rd_kafka_poll_set_consumer(rk.get());

  absl::StatusOr<int> partitions =
      common::TopicPartitionCount(rk.get(), topic_, absl::Milliseconds(TimeoutMs(q.deadline)));
  if (!partitions.ok()) return partitions.status();
  const std::string* partitioner = kafka_.Find("partitioner");
  absl::StatusOr<int32_t> partition =
      PartitionOf(partitioner != nullptr ? *partitioner : "", q.job_id, *partitions);
  if (!partition.ok()) return partition.status();

  int64_t low = 0, high = 0;
  if (rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk.get(), topic_.c_str(), *partition,
                                                               &low, &high, TimeoutMs(q.deadline));
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("results topic watermarks: ", rd_kafka_err2str(e)));
  }
  int64_t start = q.from_offset;
  if (start < 0) {
    common::KafkaTopicPartitionListPtr at(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(at.get(), topic_.c_str(), *partition)->offset =
        absl::ToUnixMillis(q.created_at - kClockSkew);
    if (rd_kafka_resp_err_t e =
            rd_kafka_offsets_for_times(rk.get(), at.get(), TimeoutMs(q.deadline));
        e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(absl::StrCat("results by time: ", rd_kafka_err2str(e)));
    }
    if (at->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(
          absl::StrCat("results by time: ", rd_kafka_err2str(at->elems[0].err)));
    }
    start = at->elems[0].offset < 0 ? high : at->elems[0].offset;
  }
  start = std::max(start, low);  // retention may have deleted the oldest
  cdnwarm::v1::ListResultsReply reply;
  if (start >= high) return reply;

  common::KafkaTopicPartitionListPtr assignment(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(assignment.get(), topic_.c_str(), *partition)->offset = start;
  if (rd_kafka_resp_err_t e = rd_kafka_assign(rk.get(), assignment.get());
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("assign: ", rd_kafka_err2str(e)));
  }
  const absl::Time stop = std::min(q.deadline, absl::Now() + kMaxReadPerPage);
  int64_t next = start;
  while (next < high && static_cast<size_t>(reply.results_size()) < q.page_size &&
         absl::Now() < stop) {
    common::KafkaMessagePtr m(rd_kafka_consumer_poll(rk.get(), 100));
    if (!m) continue;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        next = std::max(next, high);  // nothing more was recorded when the page began
        break;
      }
      return absl::UnavailableError(
          absl::StrCat("reading results: ", rd_kafka_message_errstr(m.get())));
    }
    next = m->offset + 1;
    const absl::string_view key(static_cast<const char*>(m->key), m->key_len);
    if (key != q.job_id) continue;
    cdnwarm::v1::WarmResult r;
    if (!r.ParseFromArray(m->payload, static_cast<int>(m->len)) || r.task_id().empty()) continue;
    if (!q.region.empty() && r.region() != q.region) continue;
    if (!q.outcomes.empty() &&
        std::find(q.outcomes.begin(), q.outcomes.end(), r.outcome()) == q.outcomes.end()) {
      continue;
    }
    *reply.add_results() = std::move(r);
  }
  if (next < high) reply.set_next_page_token(Token(next));
  return reply;
}

}  // namespace cdnwarm::producer
