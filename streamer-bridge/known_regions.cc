#include "streamer-bridge/known_regions.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/kafka_admin.h"
#include "common/log.h"

namespace cdnwarm::bridge {
namespace {

// Tasks enqueued this long before the anchor are still read: replicas that start together,
// and producer clocks a little behind, skip nothing.
constexpr absl::Duration kAnchorMargin = absl::Minutes(1);

}  // namespace

absl::StatusOr<std::unique_ptr<KnownRegions>> KnownRegions::Start(KnownRegionsOptions options) {
  std::unique_ptr<KnownRegions> k(new KnownRegions(std::move(options)));
  if (k->options_.regions.empty()) return k;
  absl::StatusOr<common::KafkaConfPtr> conf = k->options_.kafka.ToConf();
  if (!conf.ok()) return conf.status();
  char err[512] = {};
  k->rk_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), err, sizeof(err)));
  if (!k->rk_) return absl::InvalidArgumentError(absl::StrCat("Kafka client: ", err));
  conf->release();
  absl::StatusOr<int> partitions =
      common::TopicPartitionCount(k->rk_.get(), k->options_.topic, k->options_.timeout);
  if (!partitions.ok()) return partitions.status();
  for (const std::string& region : k->options_.regions) {
    if (absl::Status s = k->Anchor(region, *partitions); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--regions: region ", region, ": ", s.message()));
    }
  }
  k->thread_ = std::thread([raw = k.get(), n = *partitions] { raw->Run(n); });
  return k;
}

KnownRegions::~KnownRegions() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::Status KnownRegions::Check(const std::string& region) const {
  const auto& known = options_.regions;
  if (known.empty() || std::find(known.begin(), known.end(), region) != known.end()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("region: \"", region,
                                                 "\" is not one of this deployment's regions (",
                                                 absl::StrJoin(known, ", "), ")"));
}

absl::Status KnownRegions::Anchor(const std::string& region, int partitions) {
  const std::string group = options_.group_of(region);
  absl::StatusOr<std::map<int32_t, int64_t>> committed =
      common::GroupCommittedOffsets(rk_.get(), group, options_.topic, partitions, options_.timeout);
  if (!committed.ok()) return committed.status();
  common::KafkaTopicPartitionListPtr starts(rd_kafka_topic_partition_list_new(partitions));
  const int64_t since_ms = absl::ToUnixMillis(absl::Now() - kAnchorMargin);
  for (const auto& [p, offset] : *committed) {
    if (offset >= 0) continue;
    rd_kafka_topic_partition_list_add(starts.get(), options_.topic.c_str(), p)->offset =
        options_.earliest ? RD_KAFKA_OFFSET_BEGINNING : since_ms;
  }
  if (starts->cnt == 0) return absl::OkStatus();
  std::map<int32_t, int64_t> anchors;
  if (!options_.earliest) {
    // The first offset at or after the time; -1 (the log end) where nothing is that new.
    if (rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(
            rk_.get(), starts.get(), static_cast<int>(absl::ToInt64Milliseconds(options_.timeout)));
        e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(absl::StrCat("offsets by time: ", rd_kafka_err2str(e)));
    }
  }
  for (int i = 0; i < starts->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = starts->elems[i];
    int64_t low = 0, high = 0;
    if (rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
            rk_.get(), options_.topic.c_str(), tp.partition, &low, &high,
            static_cast<int>(absl::ToInt64Milliseconds(options_.timeout)));
        e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(
          absl::StrCat("partition ", tp.partition, " watermarks: ", rd_kafka_err2str(e)));
    }
    anchors[tp.partition] = options_.earliest ? low : tp.offset >= 0 ? tp.offset : high;
  }
  absl::Status s =
      common::CommitGroupOffsets(rk_.get(), group, options_.topic, anchors, options_.timeout);
  if (absl::IsFailedPrecondition(s)) {
    // Members hold the group: they anchor what they are assigned themselves.
    log::Info("region's group has members; not anchored from outside",
              {{"region", region}, {"group", group}});
    return absl::OkStatus();
  }
  if (!s.ok()) return s;
  log::Info("region anchored",
            {{"region", region},
             {"group", group},
             {"partitions", static_cast<int64_t>(anchors.size())},
             {"from", options_.earliest ? "earliest" : "a minute before start"}});
  return absl::OkStatus();
}

absl::StatusOr<std::vector<cdnwarm::v1::PartitionInfo>> KnownRegions::Read(
    const std::string& region, int partitions) {
  absl::StatusOr<std::map<int32_t, int64_t>> committed = common::GroupCommittedOffsets(
      rk_.get(), options_.group_of(region), options_.topic, partitions, options_.timeout);
  if (!committed.ok()) return committed.status();
  std::vector<cdnwarm::v1::PartitionInfo> out;
  for (const auto& [p, offset] : *committed) {
    int64_t low = 0, high = 0;
    if (rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
            rk_.get(), options_.topic.c_str(), p, &low, &high,
            static_cast<int>(absl::ToInt64Milliseconds(options_.timeout)));
        e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(
          absl::StrCat("partition ", p, " watermarks: ", rd_kafka_err2str(e)));
    }
    cdnwarm::v1::PartitionInfo& info = out.emplace_back();
    info.set_partition(p);
    info.set_committed_offset(offset);
    info.set_end_offset(high);
    info.set_lag(offset >= 0 ? std::max<int64_t>(0, high - offset) : 0);
  }
  return out;
}

void KnownRegions::Run(int partitions) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    std::map<std::string, std::vector<cdnwarm::v1::PartitionInfo>> fresh;
    for (const std::string& region : options_.regions) {
      absl::StatusOr<std::vector<cdnwarm::v1::PartitionInfo>> read = Read(region, partitions);
      if (read.ok()) {
        fresh[region] = *std::move(read);
      } else {
        log::Warn("region's committed offsets unknown",
                  {{"region", region}, {"error", std::string(read.status().message())}});
      }
    }
    lock.lock();
    for (auto& [region, parts] : fresh) positions_[region] = std::move(parts);
    wake_.wait_for(lock, absl::ToChronoNanoseconds(options_.refresh), [this] { return stop_; });
  }
}

std::vector<cdnwarm::v1::PartitionInfo> KnownRegions::Positions(const std::string& region) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = positions_.find(region);
  return it == positions_.end() ? std::vector<cdnwarm::v1::PartitionInfo>() : it->second;
}

}  // namespace cdnwarm::bridge
