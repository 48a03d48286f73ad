#include "producer/job_feed.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cdnwarm/v1/common.pb.h"
#include "common/core/log.h"
#include "common/core/proto_time.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/wire_format_lite.h"
#include "producer/task_factory.h"

namespace cdnwarm::producer {
namespace {

// A requests-topic record's task_id and enqueued_at, all the tracker needs of it, read off
// the wire (the other fields skipped, never copied): every replica reads every task, and
// parsing whole WarmTasks was a fifth of the producer's CPU in WarmBatch (bench/README.md).
// False when the bytes are not a WarmTask.
bool ReadTaskHeader(const void* data, size_t size, std::string* task_id, absl::Time* enqueued_at) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(static_cast<const uint8_t*>(data),
                                            static_cast<int>(size));
  // Both are reused from record to record: one without a task_id must not keep the last.
  task_id->clear();
  *enqueued_at = absl::UnixEpoch();
  while (const uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const auto wire = WireFormatLite::GetTagWireType(tag);
    if (field == cdnwarm::v1::WarmTask::kTaskIdFieldNumber &&
        wire == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormatLite::ReadString(&in, task_id)) return false;
    } else if (field == cdnwarm::v1::WarmTask::kEnqueuedAtFieldNumber &&
               wire == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      google::protobuf::Timestamp at;
      if (!WireFormatLite::ReadMessage(&in, &at)) return false;
      *enqueued_at = common::FromProtoTimestamp(at);
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  return in.ConsumedEntireMessage();
}

}  // namespace

JobFeed::JobFeed(JobFeedOptions options, JobTracker& tracker, metrics::Registry& registry)
    : options_(std::move(options)),
      tracker_(tracker),
      records_(registry.AddCounter("cdnwarm_producer_job_feed_records_total",
                                   "Records read to build job progress, by topic kind and result",
                                   {"topic", "result"})),
      requests_ok_(records_.Labels({"requests", "ok"})),
      requests_unparsable_(records_.Labels({"requests", "unparsable"})),
      results_ok_(records_.Labels({"results", "ok"})),
      results_unparsable_(records_.Labels({"results", "unparsable"})) {}

absl::StatusOr<std::unique_ptr<JobFeed>> JobFeed::Start(JobFeedOptions options, JobTracker& tracker,
                                                        metrics::Registry& registry) {
  common::KafkaProperties props = options.kafka;
  // Assigned partitions, no group: nothing is committed, every replica reads everything.
  props.Set("enable.auto.commit", "false");
  props.Set("enable.auto.offset.store", "false");
  if (props.Find("group.id") == nullptr) props.Set("group.id", "cdnwarm.producer.jobs");
  absl::StatusOr<common::KafkaConfPtr> conf = props.ToConf();
  if (!conf.ok()) return conf.status();
  std::unique_ptr<JobFeed> feed(new JobFeed(std::move(options), tracker, registry));
  absl::StatusOr<common::KafkaPtr> rk = common::NewKafkaClient(RD_KAFKA_CONSUMER, *std::move(conf));
  if (!rk.ok()) return rk.status();
  feed->rk_ = *std::move(rk);
  rd_kafka_poll_set_consumer(feed->rk_.get());
  if (absl::Status s = feed->AssignFromWindow(); !s.ok()) return s;
  feed->thread_ = std::thread([raw = feed.get()] { raw->Run(); });
  return feed;
}

JobFeed::~JobFeed() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (rk_) rd_kafka_consumer_close(rk_.get());
}

absl::Status JobFeed::AssignFromWindow() {
  common::KafkaTopicPartitionListPtr list(rd_kafka_topic_partition_list_new(16));
  const int64_t since_ms = absl::ToUnixMillis(absl::Now() - options_.window);
  for (const std::string& topic : {options_.requests_topic, options_.results_topic}) {
    // A topic created a moment ago (EnsureTopics at start-up) may not be in the metadata
    // yet: retry for a while before giving up.
    int partitions = 0;
    rd_kafka_resp_err_t topic_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    const absl::Time give_up = absl::Now() + options_.start_timeout;
    for (int attempt = 0;; ++attempt) {
      rd_kafka_topic_t* t = rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr);
      const rd_kafka_metadata_t* md = nullptr;
      const rd_kafka_resp_err_t err = rd_kafka_metadata(rk_.get(), 0, t, &md, 10000);
      rd_kafka_topic_destroy(t);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        topic_err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        partitions = topic_err == RD_KAFKA_RESP_ERR_NO_ERROR ? md->topics[0].partition_cnt : 0;
        rd_kafka_metadata_destroy(md);
      } else {
        topic_err = err;
      }
      if (partitions > 0) break;
      if (absl::Now() > give_up) {
        return absl::FailedPreconditionError(
            absl::StrCat("topic ", topic, " is not available: ", rd_kafka_err2str(topic_err)));
      }
      absl::SleepFor(absl::Milliseconds(std::min(1000, 50 << std::min(attempt, 5))));  // backoff
    }
    for (int p = 0; p < partitions; ++p) {
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = since_ms;
    }
  }
  // Offsets for the window's start; partitions with nothing that new start at their end.
  // A topic created a moment ago may not have its leaders yet: retry for a while.
  const absl::Time give_up = absl::Now() + options_.start_timeout;
  for (int attempt = 0;; ++attempt) {
    common::KafkaTopicPartitionListPtr query(rd_kafka_topic_partition_list_copy(list.get()));
    const rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk_.get(), query.get(), 10000);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      list = std::move(query);
      break;
    }
    if (absl::Now() > give_up) {
      return absl::UnavailableError(absl::StrCat("offsets for times: ", rd_kafka_err2str(err)));
    }
    absl::SleepFor(absl::Milliseconds(std::min(1000, 50 << std::min(attempt, 5))));  // backoff
  }
  // A partition with nothing that new starts at its end as of now, measured here: the
  // logical RD_KAFKA_OFFSET_END would be resolved only when fetching starts, and a record
  // written in between would never be read.
  for (int i = 0; i < list->cnt; ++i) {
    rd_kafka_topic_partition_t& tp = list->elems[i];
    if (tp.offset >= 0) continue;
    int64_t low = 0, high = 0;
    if (rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk_.get(), tp.topic, tp.partition, &low, &high, 10000);
        e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(
          absl::StrCat("end of ", tp.topic, "[", tp.partition, "]: ", rd_kafka_err2str(e)));
    }
    tp.offset = high;
  }
  if (rd_kafka_resp_err_t e = rd_kafka_assign(rk_.get(), list.get());
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("assign: ", rd_kafka_err2str(e)));
  }
  return absl::OkStatus();
}

void JobFeed::Run() {
  // Each poll waits for one record, then takes what else is fetched already (up to
  // kBatch, without waiting for more): the tracker is locked once for all of them. Read
  // one at a time, the feed was a sixth of the producer's CPU in WarmBatch (bench/README.md).
  constexpr size_t kBatch = 512;
  common::KafkaQueuePtr queue(rd_kafka_queue_get_consumer(rk_.get()));
  std::vector<rd_kafka_message_t*> batch(kBatch);
  // Reused from poll to poll: fewer allocations.
  std::vector<JobTracker::TaskRecord> tasks;
  std::vector<cdnwarm::v1::WarmResult> results;
  std::string task_id;
  absl::Time last_expire = absl::Now();
  while (!stop_) {
    size_t n = 0;
    if (rd_kafka_message_t* first = rd_kafka_consumer_poll(rk_.get(), 100)) {
      batch[0] = first;
      const ssize_t more =
          rd_kafka_consume_batch_queue(queue.get(), 0, batch.data() + 1, kBatch - 1);
      n = 1 + static_cast<size_t>(std::max<ssize_t>(more, 0));
    }
    if (absl::Now() - last_expire > absl::Seconds(10)) {
      last_expire = absl::Now();
      tracker_.Expire(last_expire);
    }
    size_t task_count = 0, result_count = 0;
    uint64_t bad_requests = 0, bad_results = 0;
    for (size_t i = 0; i < n; ++i) {
      common::KafkaMessagePtr m(batch[i]);
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          log::Warn("job feed: Kafka error", {{"error", rd_kafka_message_errstr(m.get())}});
        }
        continue;
      }
      if (options_.requests_topic == rd_kafka_topic_name(m->rkt)) {
        if (task_count == tasks.size()) tasks.emplace_back();
        JobTracker::TaskRecord& t = tasks[task_count];
        if (!ReadTaskHeader(m->payload, m->len, &task_id, &t.enqueued_at) ||
            !ParseTaskId(task_id, &t.job_id, &t.index)) {
          ++bad_requests;
          continue;
        }
        ++task_count;
      } else {
        if (result_count == results.size()) results.emplace_back();
        if (!results[result_count].ParseFromArray(m->payload, static_cast<int>(m->len))) {
          ++bad_results;
          continue;
        }
        ++result_count;
      }
    }
    // Counted first: whoever sees the tracker change sees these records counted.
    if (task_count > 0) requests_ok_.Increment(static_cast<double>(task_count));
    if (result_count > 0) results_ok_.Increment(static_cast<double>(result_count));
    if (bad_requests > 0) requests_unparsable_.Increment(static_cast<double>(bad_requests));
    if (bad_results > 0) results_unparsable_.Increment(static_cast<double>(bad_results));
    if (task_count + result_count > 0) {
      tracker_.OnRecords(absl::MakeConstSpan(tasks.data(), task_count),
                         absl::MakeConstSpan(results.data(), result_count));
    }
  }
}

}  // namespace cdnwarm::producer
