#include "streamer-bridge/region_consumer.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/core/log.h"
#include "common/core/proto_time.h"
#include "common/core/sync.h"

namespace cdnwarm::bridge {
namespace {

// Each broker round trip of a seek, and the wait for the fetchers to take the seek.
constexpr int kSeekStepTimeoutMs = 20000;

// rd_kafka_seek_partitions' timeout as librdkafka reads it. Before 2.1.0 it waited for
// each partition's answer in microseconds, not the milliseconds it is given
// (librdkafka #4230; rdkafka.c passes rd_timeout_remains(), in ms, to rd_kafka_q_pop(),
// which takes µs): 20 s became 20 ms, and a loaded machine missed it ("Timed out waiting
// for 1 remaining partition seek(s) to finish" in CI, and raising 5 s to 20 s only
// narrowed it).
int SeekPartitionsTimeout(int ms) {
  constexpr int kFixedIn = 0x020100ff;  // 2.1.0
  return rd_kafka_version() < kFixedIn ? ms * 1000 : ms;
}

// The consumer loop's longest waits: for a record, and for room in a full buffer. Ticks,
// commits and seeks come at least this often.
constexpr absl::Duration kPollWait = absl::Milliseconds(50);
constexpr absl::Duration kFullWait = absl::Milliseconds(50);
constexpr absl::Duration kHousekeepingEvery = absl::Milliseconds(1);
constexpr int kPrefetchKiB = 8 * 1024;

}  // namespace

struct RegionConsumer::Metrics {
  Metrics(metrics::Registry& r, const std::string& region)
      : records(r.AddCounter("cdnwarm_bridge_records_consumed_total",
                             "Records read from the requests topic, by region and result",
                             {"region", "result"})),
        commits(r.AddCounter("cdnwarm_bridge_commits_total", "Offset commits, by region and result",
                             {"region", "result"})),
        paused(r.AddGauge("cdnwarm_bridge_paused", "1 while a region's partitions are paused",
                          {"region"})
                   .Labels({region})),
        records_ok(records.Labels({region, "ok"})),
        pauses(r.AddCounter("cdnwarm_bridge_pauses_total",
                            "Times a region's partitions were paused (its buffer stayed full)",
                            {"region"})
                   .Labels({region})),
        rebalances(r.AddCounter("cdnwarm_bridge_rebalances_total",
                                "Partition assignments and revocations, by region and kind",
                                {"region", "kind"})),
        record_age(r.AddHistogram("cdnwarm_bridge_record_age_seconds",
                                  "Age of a task when its record was read here, since the "
                                  "producer accepted it (enqueued_at): Kafka and the backlog",
                                  metrics::LatencyBuckets(), {"region"})
                       .Labels({region})),
        region_(region) {}
  metrics::Family<metrics::Counter>& records;
  metrics::Family<metrics::Counter>& commits;
  metrics::Gauge& paused;
  metrics::Counter& records_ok;  // every record's: looked up once
  metrics::Counter& pauses;
  metrics::Family<metrics::Counter>& rebalances;
  metrics::Histogram& record_age;
  std::string region_;
};

RegionConsumer::RegionConsumer(ConsumerOptions options, Region& region, metrics::Registry& registry)
    : options_(std::move(options)),
      region_(region),
      metrics_(std::make_unique<Metrics>(registry, region.name())) {}

common::KafkaProperties ConsumerProperties(const ConsumerOptions& options) {
  common::KafkaProperties props = options.kafka;
  props.Set("group.id", options.group);
  props.Set("enable.auto.commit", "false");
  props.Set("enable.auto.offset.store", "false");
  // New groups start where --auto_offset_reset says (AnchorStartOffsets commits that start
  // before fetching), so librdkafka's own reset only meets a committed offset that is out
  // of range, one retention deleted past: resume at the oldest retained task, never at the
  // end (which would skip the retained backlog).
  props.Set("auto.offset.reset", "earliest");
  props.Set("partition.assignment.strategy", "cooperative-sticky");
  // librdkafka's prefetch, besides the region's buffer: while the buffer is full the
  // consumer stops polling (RegionConsumer::Run) and the prefetch waits, up to this much
  // (librdkafka's default, 64 MiB, took the bridge's peak with a 1M backlog from 107 to
  // 224 MiB even at 16 MiB: each record costs several times its bytes in librdkafka's
  // queue; 8 MiB: 172 MiB). Smaller is slower: at 4 MiB and 5,000 records a partition,
  // librdkafka 2.0 backed each fetch off for fetch.error.backoff.ms (500 ms) whenever the
  // queue was full, and the bare consumer fell from 1.5M to 50k records/s.
  if (props.Find("queued.max.messages.kbytes") == nullptr) {
    props.Set("queued.max.messages.kbytes", std::to_string(kPrefetchKiB));
  }
  return props;
}

absl::StatusOr<std::unique_ptr<RegionConsumer>> RegionConsumer::Start(ConsumerOptions options,
                                                                      Region& region,
                                                                      metrics::Registry& registry) {
  absl::StatusOr<common::KafkaConfPtr> conf = ConsumerProperties(options).ToConf();
  if (!conf.ok()) return conf.status();
  std::unique_ptr<RegionConsumer> c(new RegionConsumer(std::move(options), region, registry));
  rd_kafka_conf_set_rebalance_cb(conf->get(), &RegionConsumer::OnRebalance);
  rd_kafka_conf_set_opaque(conf->get(), c.get());
  absl::StatusOr<common::KafkaPtr> rk = common::NewKafkaClient(RD_KAFKA_CONSUMER, *std::move(conf));
  if (!rk.ok()) return rk.status();
  c->rk_ = *std::move(rk);
  rd_kafka_poll_set_consumer(c->rk_.get());
  common::KafkaTopicPartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), c->options_.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk_.get(), topics.get());
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("subscribe to ", c->options_.topic, ": ", rd_kafka_err2str(e)));
  }
  c->commit_queue_.reset(rd_kafka_queue_new(c->rk_.get()));
  c->thread_ = std::thread([raw = c.get()] { raw->Run(); });
  return c;
}

RegionConsumer::~RegionConsumer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (!rk_) return;  // Start failed before the client existed
  // The final commit gets half the close budget, leaving the group (whose revoke callback
  // commits once more) the rest.
  const absl::Time start = absl::Now();
  close_deadline_ = start + options_.close_timeout / 2;
  Commit(nullptr);
  // A periodic commit still unanswered is older than the one just made: its answer goes.
  commit_queue_.reset();
  close_deadline_ = start + options_.close_timeout;
  if (!common::CloseConsumer(rk_, *close_deadline_ - absl::Now())) {
    log::Warn(
        "left the region's group without a clean close: Kafka did not answer in time; "
        "the group reassigns its partitions after its session timeout",
        {{"region", region_.name()}, {"close_timeout", options_.close_timeout}});
  }
}

void RegionConsumer::OnRebalance(rd_kafka_t*, rd_kafka_resp_err_t err,
                                 rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  static_cast<RegionConsumer*>(opaque)->Rebalance(err, partitions);
}

void RegionConsumer::Rebalance(rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* partitions) {
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk_.get()), "COOPERATIVE") == 0;
  std::vector<int32_t> parts;
  for (int i = 0; i < partitions->cnt; ++i) parts.push_back(partitions->elems[i].partition);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    metrics_->rebalances.Labels({region_.name(), "assigned"}).Increment(parts.size());
    for (int32_t p : parts) region_.Assigned(p);
    {
      common::MutexLock lock(&mu_);
      for (int32_t p : parts) {
        if (std::find(assigned_.begin(), assigned_.end(), p) == assigned_.end()) {
          assigned_.push_back(p);
        }
      }
    }
    // An assignment served by the close (one forwarded to it) is left as soon as it is
    // taken: no start offsets to look up against the close's deadline.
    if (!close_deadline_) AnchorStartOffsets(partitions);
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk_.get(), partitions)) {
        log::Error("incremental assign failed", {{"error", rd_kafka_error_string(e)}});
        rd_kafka_error_destroy(e);
      }
    } else {
      rd_kafka_assign(rk_.get(), partitions);
    }
    // Flow control covers what is assigned now too, both ways. A partition new to this
    // replica starts unpaused, and would be read at full speed past --buffer_limit while
    // the region is paused. And librdkafka keeps a partition's pause across a revoke: one
    // given up while paused and assigned back after the region resumed would never be
    // read again.
    bool paused = false;
    {
      common::MutexLock lock(&mu_);
      paused = paused_;
    }
    if (paused) {
      rd_kafka_pause_partitions(rk_.get(), partitions);
    } else {
      rd_kafka_resume_partitions(rk_.get(), partitions);
    }
    log::Info("partitions assigned",
              {{"region", region_.name()}, {"count", static_cast<int64_t>(parts.size())}});
    return;
  }
  // Revoked (or lost): commit what is finished in them, then forget them.
  metrics_->rebalances.Labels({region_.name(), "revoked"}).Increment(parts.size());
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk_.get())) {
    Commit(&parts);
  }
  region_.Revoked(parts);
  {
    common::MutexLock lock(&mu_);
    assigned_.erase(std::remove_if(assigned_.begin(), assigned_.end(),
                                   [&](int32_t p) {
                                     return std::find(parts.begin(), parts.end(), p) != parts.end();
                                   }),
                    assigned_.end());
    for (int32_t p : parts) committed_.erase(p);
  }
  if (cooperative) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk_.get(), partitions)) {
      rd_kafka_error_destroy(e);
    }
  } else {
    rd_kafka_assign(rk_.get(), nullptr);
  }
}

// A partition the region's group has never committed starts where --auto_offset_reset
// says, and that start is committed before anything is fetched. Otherwise a rebalance or
// crash before the first commit would resolve "latest" again, later, and the tasks produced
// in between would never reach this region. Leaves an offset to librdkafka (INVALID) where
// the broker cannot be asked.
void RegionConsumer::AnchorStartOffsets(rd_kafka_topic_partition_list_t* partitions) {
  if (rd_kafka_resp_err_t e = rd_kafka_committed(rk_.get(), partitions, 10000);
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    log::Warn("committed offsets unknown; start positions not anchored",
              {{"region", region_.name()}, {"error", rd_kafka_err2str(e)}});
    for (int i = 0; i < partitions->cnt; ++i) partitions->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    return;
  }
  common::KafkaTopicPartitionListPtr anchors(rd_kafka_topic_partition_list_new(partitions->cnt));
  std::map<int32_t, int64_t> known;
  for (int i = 0; i < partitions->cnt; ++i) {
    rd_kafka_topic_partition_t& tp = partitions->elems[i];
    if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      tp.offset = RD_KAFKA_OFFSET_INVALID;
      continue;
    }
    if (tp.offset >= 0) {
      known[tp.partition] = tp.offset;
      continue;
    }
    int64_t low = 0, high = 0;
    if (rd_kafka_query_watermark_offsets(rk_.get(), tp.topic, tp.partition, &low, &high, 5000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      tp.offset = RD_KAFKA_OFFSET_INVALID;
      continue;
    }
    tp.offset = options_.auto_offset_reset == "earliest" ? low : high;
    rd_kafka_topic_partition_list_add(anchors.get(), tp.topic, tp.partition)->offset = tp.offset;
  }
  {
    common::MutexLock lock(&mu_);
    for (const auto& [p, offset] : known) committed_[p] = offset;
  }
  if (CommitOffsets(anchors.get())) {
    log::Info("start positions anchored", {{"region", region_.name()},
                                           {"partitions", static_cast<int64_t>(anchors->cnt)},
                                           {"reset", options_.auto_offset_reset}});
  }
}

bool RegionConsumer::CommitOffsets(const rd_kafka_topic_partition_list_t* list) {
  if (list->cnt == 0) return false;
  const absl::Duration timeout =
      close_deadline_ ? std::max(absl::ZeroDuration(), *close_deadline_ - absl::Now())
                      : options_.commit_timeout;
  const rd_kafka_resp_err_t err = common::CommitWithin(rk_.get(), list, timeout);
  metrics_->commits.Labels({region_.name(), err == RD_KAFKA_RESP_ERR_NO_ERROR ? "ok" : "error"})
      .Increment();
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    log::Warn("commit failed", {{"region", region_.name()}, {"error", rd_kafka_err2str(err)}});
    return false;
  }
  common::MutexLock lock(&mu_);
  for (int i = 0; i < list->cnt; ++i) committed_[list->elems[i].partition] = list->elems[i].offset;
  return true;
}

common::KafkaTopicPartitionListPtr RegionConsumer::ChangedCommitPoints(
    const std::vector<int32_t>* only) {
  const std::map<int32_t, int64_t> points = region_.CommitPoints();
  common::KafkaTopicPartitionListPtr list(rd_kafka_topic_partition_list_new(8));
  common::MutexLock lock(&mu_);
  for (const auto& [p, offset] : points) {
    if (only != nullptr && std::find(only->begin(), only->end(), p) == only->end()) continue;
    auto c = committed_.find(p);
    if (c != committed_.end() && c->second == offset) continue;
    rd_kafka_topic_partition_list_add(list.get(), options_.topic.c_str(), p)->offset = offset;
  }
  return list;
}

void RegionConsumer::Commit(const std::vector<int32_t>* only) {
  CommitOffsets(ChangedCommitPoints(only).get());
}

void RegionConsumer::CommitAsync() {
  if (commit_in_flight_) return;
  common::KafkaTopicPartitionListPtr list = ChangedCommitPoints(nullptr);
  if (list->cnt == 0) return;
  if (rd_kafka_resp_err_t e = rd_kafka_commit_queue(rk_.get(), list.get(), commit_queue_.get(),
                                                    &RegionConsumer::OnAsyncCommitted, this);
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    metrics_->commits.Labels({region_.name(), "error"}).Increment();
    log::Warn("commit failed", {{"region", region_.name()}, {"error", rd_kafka_err2str(e)}});
    return;
  }
  commit_in_flight_ = true;
}

void RegionConsumer::ServeCommits() {
  // Only commit answers reach this queue, never a record.
  if (commit_in_flight_) rd_kafka_queue_poll_callback(commit_queue_.get(), 0);
}

void RegionConsumer::OnAsyncCommitted(rd_kafka_t*, rd_kafka_resp_err_t err,
                                      rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  auto* self = static_cast<RegionConsumer*>(opaque);
  self->commit_in_flight_ = false;
  self->metrics_->commits
      .Labels({self->region_.name(), err == RD_KAFKA_RESP_ERR_NO_ERROR ? "ok" : "error"})
      .Increment();
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Not recorded as committed: the next periodic commit tries these points again.
    log::Warn("commit failed",
              {{"region", self->region_.name()}, {"error", rd_kafka_err2str(err)}});
    return;
  }
  common::MutexLock lock(&self->mu_);
  for (int i = 0; offsets != nullptr && i < offsets->cnt; ++i) {
    const rd_kafka_topic_partition_t& e = offsets->elems[i];
    // A partition revoked meanwhile is no longer this consumer's to report.
    if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR ||
        std::find(self->assigned_.begin(), self->assigned_.end(), e.partition) ==
            self->assigned_.end()) {
      continue;
    }
    self->committed_[e.partition] = e.offset;
  }
}

bool RegionConsumer::SetPaused(bool paused) {
  rd_kafka_topic_partition_list_t* assignment = nullptr;
  if (rd_kafka_assignment(rk_.get(), &assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  common::KafkaTopicPartitionListPtr owned(assignment);
  if (paused) {
    rd_kafka_pause_partitions(rk_.get(), assignment);
  } else {
    rd_kafka_resume_partitions(rk_.get(), assignment);
  }
  common::MutexLock lock(&mu_);
  paused_ = paused;
  metrics_->paused.Set(paused ? 1 : 0);
  if (paused) metrics_->pauses.Increment();
  return true;
}

void RegionConsumer::Run() {
  absl::Time last_commit = absl::Now();
  absl::Time last_housekeeping = absl::InfinitePast();
  std::optional<absl::Time> full_since;  // since when the region's buffer has been full
  while (!stop_) {
    // Flow control. While the region's buffer is full nothing is polled, and librdkafka's
    // prefetch waits where it is: room comes within milliseconds while subscribers ack, and
    // reading goes on without a fetch. A buffer full for pause_after pauses the partitions
    // (librdkafka then drops the prefetch, and a resume waits for its next fetch, up to a
    // second): polling goes on, so the group keeps this member and its rebalances are
    // served. Paused reading resumes once the buffer is down to half. Pausing at once made
    // the fan-out stall for most of every second (bench/README.md).
    bool paused = false;
    {
      common::MutexLock lock(&mu_);
      paused = paused_;
    }
    const size_t buffered = region_.buffered();
    if (buffered < options_.buffer_limit) {
      full_since.reset();
    } else if (!full_since) {
      full_since = absl::Now();
    }
    if (!paused && full_since && absl::Now() - *full_since >= options_.pause_after) {
      paused = SetPaused(true);
    }
    if (paused && buffered <= options_.buffer_limit / 2) paused = !SetPaused(false);
    bool read = false;
    if (full_since && !paused) {
      region_.WaitForRoom(std::min(options_.pause_after, kFullWait));
    } else {
      read = Consume(absl::ToInt64Milliseconds(kPollWait));
    }
    // The rest (deadlines, delayed tasks, stored results, commits, seeks) at most every
    // kHousekeepingEvery while records stream in: done after every record, it was 4% of the
    // bridge's CPU in the fan-out (bench/README.md).
    const absl::Time now = absl::Now();
    if (read && now - last_housekeeping < kHousekeepingEvery) continue;
    last_housekeeping = now;
    region_.Tick();
    ServeCommits();
    if (now - last_commit >= options_.commit_interval) {
      last_commit = now;
      CommitAsync();
    }
    DoSeek();
  }
}

bool RegionConsumer::Consume(int timeout_ms) {
  common::KafkaMessagePtr m(rd_kafka_consumer_poll(rk_.get(), timeout_ms));
  if (!m) return false;
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    cdnwarm::v1::WarmTask task;
    if (task.ParseFromArray(m->payload, static_cast<int>(m->len)) && !task.url().empty()) {
      metrics_->records_ok.Increment();
      if (task.has_enqueued_at()) {
        metrics_->record_age.Observe(absl::Now() - common::FromProtoTimestamp(task.enqueued_at()));
      }
      region_.Enqueue(m->partition, m->offset, std::move(task));
    } else {
      metrics_->records.Labels({region_.name(), "unparsable"}).Increment();
      region_.Reject(
          m->partition, m->offset, "record is not a cdnwarm.v1.WarmTask",
          m->key != nullptr ? std::string(static_cast<const char*>(m->key), m->key_len) : "",
          m->payload != nullptr ? std::string(static_cast<const char*>(m->payload), m->len) : "");
    }
  } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    log::Warn("consumer error",
              {{"region", region_.name()}, {"error", rd_kafka_message_errstr(m.get())}});
  }
  return true;
}

std::vector<cdnwarm::v1::PartitionInfo> RegionConsumer::Partitions() const {
  std::vector<cdnwarm::v1::PartitionInfo> out;
  common::MutexLock lock(&mu_);
  for (int32_t p : assigned_) {
    cdnwarm::v1::PartitionInfo info;
    info.set_partition(p);
    auto c = committed_.find(p);
    info.set_committed_offset(c == committed_.end() ? -1 : c->second);
    int64_t low = 0, high = 0;
    if (rd_kafka_get_watermark_offsets(rk_.get(), options_.topic.c_str(), p, &low, &high) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      info.set_end_offset(high);
      if (c != committed_.end()) info.set_lag(std::max<int64_t>(0, high - c->second));
    }
    info.set_paused(paused_);
    out.push_back(info);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.partition() < b.partition(); });
  return out;
}

bool RegionConsumer::assigned_any() const {
  common::MutexLock lock(&mu_);
  return !assigned_.empty();
}

cdnwarm::v1::SeekReport RegionConsumer::Seek(const cdnwarm::v1::SeekRequest& r,
                                             absl::Time deadline) {
  common::MutexLock lock(&mu_);
  const uint64_t number = ++seek_number_;
  seek_.emplace(number, r);
  while (!(seek_result_.has_value() && seek_result_->first == number)) {
    if (seek_cv_.WaitWithDeadline(&mu_, deadline)) break;
  }
  const bool answered = seek_result_.has_value() && seek_result_->first == number;
  cdnwarm::v1::SeekReport report;
  if (answered) {
    report = std::move(seek_result_->second);
    seek_result_.reset();
    return report;
  }
  const bool started = !seek_.has_value() || seek_->first != number;
  seek_.reset();
  for (int32_t p : assigned_) report.add_not_moved(p);
  report.set_error(started ? "the seek did not finish in time; its partitions may move later"
                           : "the consumer did not take the seek in time; nothing was moved");
  return report;
}

void RegionConsumer::DoSeek() {
  std::optional<std::pair<uint64_t, cdnwarm::v1::SeekRequest>> taken;
  std::vector<int32_t> parts;
  {
    common::MutexLock lock(&mu_);
    if (!seek_) return;
    taken.swap(seek_);
    parts = assigned_;
  }
  const cdnwarm::v1::SeekRequest& request = taken->second;
  cdnwarm::v1::SeekReport report;
  auto answer = [&] {
    common::MutexLock lock(&mu_);
    seek_result_.emplace(taken->first, std::move(report));
    seek_cv_.SignalAll();
  };
  // A failure before anything moved: every partition held here stays where it was.
  auto refuse = [&](const std::string& why) {
    for (int32_t p : parts) report.add_not_moved(p);
    report.set_error(why);
    answer();
  };
  std::map<int32_t, int64_t> ends;
  // Every step that can fail comes before anything changes here: a seek that fails there
  // leaves the region's deliveries and commit points as they were.
  common::KafkaTopicPartitionListPtr list(rd_kafka_topic_partition_list_new(8));
  for (int32_t p : parts) {
    int64_t low = 0, high = 0;
    if (rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
            rk_.get(), options_.topic.c_str(), p, &low, &high, kSeekStepTimeoutMs);
        e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return refuse(absl::StrCat("the offsets of partition ", p, " are unknown (",
                                 rd_kafka_err2str(e), "); nothing was moved"));
    }
    int64_t target = request.has_timestamp()
                         ? absl::ToUnixMillis(common::FromProtoTimestamp(request.timestamp()))
                     : request.latest() ? high
                                        : low;
    rd_kafka_topic_partition_list_add(list.get(), options_.topic.c_str(), p)->offset = target;
    ends[p] = high;
  }
  if (request.has_timestamp() && list->cnt > 0) {
    if (rd_kafka_resp_err_t e =
            rd_kafka_offsets_for_times(rk_.get(), list.get(), kSeekStepTimeoutMs);
        e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return refuse(
          absl::StrCat("offsets for times: ", rd_kafka_err2str(e), "; nothing was moved"));
    }
    for (int i = 0; i < list->cnt; ++i) {
      // No record at or after the time: the log end.
      if (list->elems[i].offset < 0) list->elems[i].offset = ends[list->elems[i].partition];
    }
  }
  if (list->cnt == 0) return answer();  // a member that holds none
  if (rd_kafka_error_t* e = rd_kafka_seek_partitions(rk_.get(), list.get(),
                                                     SeekPartitionsTimeout(kSeekStepTimeoutMs))) {
    const std::string why = rd_kafka_error_string(e);
    rd_kafka_error_destroy(e);
    return refuse(why);
  }
  // Per partition from here: some may have moved and others not.
  std::vector<int32_t> moved;
  std::vector<std::string> failed;
  common::KafkaTopicPartitionListPtr to_commit(rd_kafka_topic_partition_list_new(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = list->elems[i];
    if (tp.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      moved.push_back(tp.partition);
      rd_kafka_topic_partition_list_add(to_commit.get(), tp.topic, tp.partition)->offset =
          tp.offset;
    } else {
      report.add_not_moved(tp.partition);
      failed.push_back(absl::StrCat(tp.partition, " (", rd_kafka_err2str(tp.err), ")"));
    }
  }
  // What was buffered for the moved partitions is read again from the new position; what
  // is out stays out, and its acks still record the warms done.
  region_.Repositioned(moved);
  if (!CommitOffsets(to_commit.get())) {
    // Read from the new position, but a restart would resume at the old one.
    for (int32_t p : moved) report.add_not_moved(p);
    failed.push_back(
        "the moved partitions are read from their new positions, but committing "
        "those failed");
  } else {
    for (int i = 0; i < to_commit->cnt; ++i) {
      cdnwarm::v1::PartitionInfo info;
      info.set_partition(to_commit->elems[i].partition);
      info.set_committed_offset(to_commit->elems[i].offset);
      *report.add_moved() = std::move(info);
    }
  }
  if (!failed.empty()) report.set_error(absl::StrCat("not moved: ", absl::StrJoin(failed, ", ")));
  answer();
}

}  // namespace cdnwarm::bridge
