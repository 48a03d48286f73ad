#include "streamer-bridge/known_regions.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/core/log.h"
#include "common/core/naming.h"
#include "common/core/sync.h"
#include "common/kafka/kafka_admin.h"

namespace cdnwarm::bridge {
namespace {

// Tasks enqueued this long before the anchor are still read: replicas that start together,
// and producer clocks a little behind, skip nothing.
constexpr absl::Duration kAnchorMargin = absl::Minutes(1);
// One group request; a cluster still starting is asked again.
constexpr absl::Duration kAttemptTimeout = absl::Seconds(5);

}  // namespace

absl::StatusOr<std::unique_ptr<KnownRegions>> KnownRegions::Start(KnownRegionsOptions options) {
  std::unique_ptr<KnownRegions> k(new KnownRegions(std::move(options)));
  if (k->options_.regions.empty()) return k;
  // One client per region, in the region's group without joining it: it reads and commits
  // the group's offsets as a member-less client may (librdkafka's Admin offset calls crash
  // on a group whose coordinator is still loading, in the Debian release).
  for (const std::string& region : k->options_.regions) {
    common::KafkaProperties props = k->options_.kafka;
    props.Set("group.id", k->options_.group_of(region));
    props.Set("enable.auto.commit", "false");
    absl::StatusOr<common::KafkaConfPtr> conf = props.ToConf();
    if (!conf.ok()) return conf.status();
    absl::StatusOr<common::KafkaPtr> rk =
        common::NewKafkaClient(RD_KAFKA_CONSUMER, *std::move(conf));
    if (!rk.ok()) return rk.status();
    k->clients_[region] = *std::move(rk);
  }
  rd_kafka_t* any = k->clients_.begin()->second.get();
  absl::StatusOr<int> partitions =
      common::TopicPartitionCount(any, k->options_.topic, k->options_.timeout);
  if (!partitions.ok()) return partitions.status();
  for (const std::string& region : k->options_.regions) {
    // A new cluster answers group requests only once its offsets topic is up (and a
    // coordinator is loading for a while): UNAVAILABLE is tried again until the timeout.
    const absl::Time deadline = absl::Now() + k->options_.timeout;
    absl::Status s = k->Anchor(region, *partitions);
    while (absl::IsUnavailable(s) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(500));  // backoff between attempts
      s = k->Anchor(region, *partitions);
    }
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--regions: region ", region, ": ", s.message()));
    }
  }
  k->thread_ = std::thread([raw = k.get(), n = *partitions] { raw->Run(n); });
  return k;
}

KnownRegions::~KnownRegions() {
  Stop();
  if (thread_.joinable()) thread_.join();
  // A look-up that timed out may still wait for a coordinator inside a client, and its
  // destroy with it: in the background, so a shutdown does not wait a session timeout.
  // No close: the clients never joined their groups.
  for (auto& [region, rk] : clients_) {
    common::DestroyWithin(std::move(rk), absl::ZeroDuration());
  }
}

void KnownRegions::Stop() {
  {
    common::MutexLock lock(&mu_);
    stop_ = true;
  }
  wake_.SignalAll();
}

bool KnownRegions::stopped() const {
  common::MutexLock lock(&mu_);
  return stop_;
}

absl::Status KnownRegions::Check(const std::string& region) const {
  return common::CheckKnownRegion(region, options_.regions, "region: ");
}

absl::StatusOr<std::map<int32_t, int64_t>> KnownRegions::Committed(rd_kafka_t* rk,
                                                                   int partitions) const {
  common::KafkaTopicPartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
  for (int32_t p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), options_.topic.c_str(), p);
  }
  if (rd_kafka_resp_err_t e = rd_kafka_committed(
          rk, list.get(), static_cast<int>(absl::ToInt64Milliseconds(kAttemptTimeout)));
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("committed offsets: ", rd_kafka_err2str(e)));
  }
  std::map<int32_t, int64_t> out;
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = list->elems[i];
    if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(absl::StrCat("committed offset of partition ", tp.partition,
                                                 ": ", rd_kafka_err2str(tp.err)));
    }
    out[tp.partition] = tp.offset >= 0 ? tp.offset : -1;
  }
  return out;
}

absl::StatusOr<std::pair<int64_t, int64_t>> KnownRegions::Watermarks(rd_kafka_t* rk,
                                                                     int32_t partition) const {
  int64_t low = 0, high = 0;
  if (rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
          rk, options_.topic.c_str(), partition, &low, &high,
          static_cast<int>(absl::ToInt64Milliseconds(kAttemptTimeout)));
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("partition ", partition, " watermarks: ", rd_kafka_err2str(e)));
  }
  return std::make_pair(low, high);
}

absl::Status KnownRegions::Anchor(const std::string& region, int partitions) {
  rd_kafka_t* rk = clients_.at(region).get();
  const std::string group = options_.group_of(region);
  absl::StatusOr<std::map<int32_t, int64_t>> committed = Committed(rk, partitions);
  if (!committed.ok()) return committed.status();
  common::KafkaTopicPartitionListPtr starts(rd_kafka_topic_partition_list_new(partitions));
  const int64_t since_ms = absl::ToUnixMillis(absl::Now() - kAnchorMargin);
  for (const auto& [p, offset] : *committed) {
    if (offset >= 0) continue;
    rd_kafka_topic_partition_list_add(starts.get(), options_.topic.c_str(), p)->offset =
        options_.earliest ? RD_KAFKA_OFFSET_BEGINNING : since_ms;
  }
  if (starts->cnt == 0) return absl::OkStatus();
  const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(kAttemptTimeout));
  // The log ends first: a task written while the offsets by time are looked up is after
  // them, so it is never skipped.
  std::map<int32_t, std::pair<int64_t, int64_t>> marks;  // partition -> low, high
  for (int i = 0; i < starts->cnt; ++i) {
    const int32_t p = starts->elems[i].partition;
    absl::StatusOr<std::pair<int64_t, int64_t>> m = Watermarks(rk, p);
    if (!m.ok()) return m.status();
    marks[p] = *m;
  }
  if (!options_.earliest) {
    // The first offset at or after the time; -1 (the log end) where nothing is that new.
    if (rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, starts.get(), timeout_ms);
        e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(absl::StrCat("offsets by time: ", rd_kafka_err2str(e)));
    }
  }
  for (int i = 0; i < starts->cnt; ++i) {
    rd_kafka_topic_partition_t& tp = starts->elems[i];
    if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(
          absl::StrCat("partition ", tp.partition, " offset by time: ", rd_kafka_err2str(tp.err)));
    }
    const auto [low, high] = marks[tp.partition];
    tp.offset = options_.earliest ? low : tp.offset >= 0 ? tp.offset : high;
  }
  // Committed from outside the group: refused while the group has members (they anchor
  // what they are assigned themselves).
  const rd_kafka_resp_err_t e = rd_kafka_commit(rk, starts.get(), 0);
  if (e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
      e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS) {
    log::Info("region's group has members; not anchored from outside",
              {{"region", region}, {"group", group}});
    return absl::OkStatus();
  }
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("commit start offsets: ", rd_kafka_err2str(e)));
  }
  log::Info("region anchored",
            {{"region", region},
             {"group", group},
             {"partitions", static_cast<int64_t>(starts->cnt)},
             {"from", options_.earliest ? "earliest" : "a minute before start"}});
  return absl::OkStatus();
}

absl::StatusOr<std::vector<cdnwarm::v1::PartitionInfo>> KnownRegions::Read(
    const std::string& region, int partitions) {
  rd_kafka_t* rk = clients_.at(region).get();
  absl::StatusOr<std::map<int32_t, int64_t>> committed = Committed(rk, partitions);
  if (!committed.ok()) return committed.status();
  std::vector<cdnwarm::v1::PartitionInfo> out;
  for (const auto& [p, offset] : *committed) {
    // Each look-up may wait its whole timeout on a cluster in trouble: a shutdown waits
    // for one of them, not for a region's every partition.
    if (stopped()) return absl::CancelledError("stopping");
    absl::StatusOr<std::pair<int64_t, int64_t>> m = Watermarks(rk, p);
    if (!m.ok()) return m.status();
    const int64_t high = m->second;
    cdnwarm::v1::PartitionInfo& info = out.emplace_back();
    info.set_partition(p);
    info.set_committed_offset(offset);
    info.set_end_offset(high);
    info.set_lag(offset >= 0 ? std::max<int64_t>(0, high - offset) : 0);
  }
  return out;
}

void KnownRegions::Run(int partitions) {
  for (;;) {
    std::map<std::string, std::vector<cdnwarm::v1::PartitionInfo>> fresh;
    for (const std::string& region : options_.regions) {
      if (stopped()) return;  // a slow cluster does not hold a shutdown up for every region
      absl::StatusOr<std::vector<cdnwarm::v1::PartitionInfo>> read = Read(region, partitions);
      if (read.ok()) {
        fresh[region] = *std::move(read);
      } else if (absl::IsCancelled(read.status())) {
        return;
      } else {
        log::Warn("region's committed offsets unknown",
                  {{"region", region}, {"error", std::string(read.status().message())}});
      }
    }
    common::MutexLock lock(&mu_);
    for (auto& [region, parts] : fresh) positions_[region] = std::move(parts);
    const absl::Time next = absl::Now() + options_.refresh;
    while (!stop_) {
      if (wake_.WaitWithDeadline(&mu_, next)) break;  // time for the next refresh
    }
    if (stop_) return;
  }
}

std::vector<cdnwarm::v1::PartitionInfo> KnownRegions::Positions(const std::string& region) const {
  common::MutexLock lock(&mu_);
  auto it = positions_.find(region);
  return it == positions_.end() ? std::vector<cdnwarm::v1::PartitionInfo>() : it->second;
}

}  // namespace cdnwarm::bridge
