#include "streamer-bridge/seek_coordinator.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/core/log.h"
#include "common/core/proto_time.h"
#include "common/core/sync.h"
#include "common/kafka/kafka_admin.h"

namespace cdnwarm::bridge {
namespace {

constexpr absl::Duration kAdminTimeout = absl::Seconds(5);
constexpr int kFlushTimeoutMs = 10000;
// A seek answers this long before its caller's deadline, and tells the replicas to finish
// their shares this long before the answer.
constexpr absl::Duration kAnswerMargin = absl::Seconds(1);
constexpr absl::Duration kShareMargin = absl::Seconds(1);
// A seek whose deadline passed while this thread ran a local share of another seek still
// reads the reports that arrived meanwhile, for up to this long.
constexpr absl::Duration kReportGrace = absl::Seconds(5);

std::string NewSeekId() {
  std::random_device rd;
  return absl::StrFormat("%016x", (static_cast<uint64_t>(rd()) << 32) | rd());
}

}  // namespace

SeekCoordinator::SeekCoordinator(SeekOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<SeekCoordinator>> SeekCoordinator::Create(
    const common::KafkaProperties& kafka, SeekOptions options) {
  std::unique_ptr<SeekCoordinator> c(new SeekCoordinator(std::move(options)));

  absl::StatusOr<common::KafkaConfPtr> pconf = kafka.ToConf();
  if (!pconf.ok()) return pconf.status();
  rd_kafka_conf_set_opaque(pconf->get(), c.get());
  rd_kafka_conf_set_dr_msg_cb(pconf->get(),
                              [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
                                static_cast<SeekCoordinator*>(opaque)->last_delivery_ = m->err;
                              });
  absl::StatusOr<common::KafkaPtr> producer =
      common::NewKafkaClient(RD_KAFKA_PRODUCER, *std::move(pconf));
  if (!producer.ok()) return producer.status();
  c->producer_ = *std::move(producer);

  // A reader of the one control partition, without a group: every replica reads every
  // record.
  common::KafkaProperties rprops = kafka;
  // librdkafka's consumer needs a group id even to assign partitions by hand; this reader
  // never joins the group and never commits.
  rprops.Set("group.id", c->options_.control_topic + ".reader");
  rprops.Set("enable.auto.commit", "false");
  rprops.Set("enable.partition.eof", "false");
  absl::StatusOr<common::KafkaConfPtr> rconf = rprops.ToConf();
  if (!rconf.ok()) return rconf.status();
  absl::StatusOr<common::KafkaPtr> reader =
      common::NewKafkaClient(RD_KAFKA_CONSUMER, *std::move(rconf));
  if (!reader.ok()) return reader.status();
  c->reader_ = *std::move(reader);
  rd_kafka_poll_set_consumer(c->reader_.get());
  // The topic's end as of now: a command sent after Create returns is read. A topic just
  // created takes a moment to show in the metadata.
  int64_t low = 0, high = 0;
  const absl::Time give_up = absl::Now() + c->options_.start_timeout;
  for (;;) {
    const rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
        c->reader_.get(), c->options_.control_topic.c_str(), 0, &low, &high,
        static_cast<int>(absl::ToInt64Milliseconds(kAdminTimeout)));
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    const bool unknown = e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                         e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                         e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    // A partition just created, or whose leader moved, answers "not leader" for a moment.
    const bool settling = e == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                          e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                          e == RD_KAFKA_RESP_ERR__TRANSPORT;
    if (!(unknown || settling) || absl::Now() > give_up) {
      return absl::UnavailableError(absl::StrCat("control topic ", c->options_.control_topic, ": ",
                                                 rd_kafka_err2str(e),
                                                 unknown ? " (create it with one partition)" : ""));
    }
    absl::SleepFor(absl::Milliseconds(200));  // retry backoff while the metadata catches up
  }
  // Every replica reads every command, in order, from partition 0, where they are all
  // written: the topic may have more partitions (a cluster's default, the mock cluster's
  // four) without changing that.
  common::KafkaTopicPartitionListPtr at(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(at.get(), c->options_.control_topic.c_str(), 0)->offset = high;
  if (rd_kafka_resp_err_t e = rd_kafka_assign(c->reader_.get(), at.get());
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("read control topic ", c->options_.control_topic, ": ", rd_kafka_err2str(e)));
  }
  return c;
}

SeekCoordinator::~SeekCoordinator() {
  Stop();
  if (thread_.joinable()) thread_.join();  // waits for a local share in progress
  if (reader_) rd_kafka_consumer_close(reader_.get());
}

void SeekCoordinator::Start(LocalSeek local) {
  local_ = std::move(local);
  thread_ = std::thread([this] { Run(); });
}

bool SeekCoordinator::stopped() {
  common::MutexLock lock(&mu_);
  return stopped_;
}

void SeekCoordinator::Stop() {
  std::vector<std::pair<std::string, Pending>> unanswered;
  {
    common::MutexLock lock(&mu_);
    stopped_ = true;
    unanswered.swap(queued_);
    for (auto& [id, p] : pending_) unanswered.emplace_back(id, std::move(p));
    pending_.clear();
  }
  // Answered here, without waiting for the thread: it may be running a local share.
  for (auto& [id, p] : unanswered) {
    p.done(absl::UnavailableError(
        "the bridge is shutting down; partitions may have moved: list them and seek again"));
  }
}

void SeekCoordinator::Seek(const cdnwarm::v1::SeekRequest& request, std::string group,
                           absl::Time deadline, Done done) {
  Pending p;
  p.request = request;
  p.group = std::move(group);
  // The answer comes before the caller's deadline, so the caller reads it.
  p.deadline = std::min(deadline - kAnswerMargin, absl::Now() + options_.timeout);
  p.done = std::move(done);
  {
    common::MutexLock lock(&mu_);
    if (!stopped_) {
      queued_.emplace_back(NewSeekId(), std::move(p));
      return;
    }
  }
  p.done(absl::UnavailableError("the bridge is shutting down; seek again"));
}

void SeekCoordinator::Run() {
  for (;;) {
    std::vector<std::pair<std::string, Pending>> queued;
    {
      common::MutexLock lock(&mu_);
      if (stopped_) break;
      queued.swap(queued_);
    }
    for (auto& [id, p] : queued) {
      if (!Broadcast(id, p)) continue;  // answered
      {
        common::MutexLock lock(&mu_);
        if (!stopped_) {
          pending_.emplace(id, std::move(p));
          continue;
        }
      }
      p.done(absl::UnavailableError(
          "the bridge is shutting down; partitions may have moved: list them and seek again"));
    }
    common::KafkaMessagePtr m(rd_kafka_consumer_poll(reader_.get(), 100));
    if (m && m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Handle(*m);
    } else if (m) {
      log::Warn("control topic", {{"error", rd_kafka_message_errstr(m.get())}});
    }
    // Deadlines, once the reports that arrived are read (or long past them).
    const absl::Time now = absl::Now();
    std::vector<std::pair<Done, absl::StatusOr<std::vector<cdnwarm::v1::PartitionInfo>>>> answers;
    {
      common::MutexLock lock(&mu_);
      for (auto it = pending_.begin(); it != pending_.end();) {
        const bool due = now >= it->second.deadline + (m ? kReportGrace : absl::ZeroDuration());
        if (!due) {
          ++it;
          continue;
        }
        answers.emplace_back(std::move(it->second.done), Outcome(it->second, true).value());
        it = pending_.erase(it);
      }
    }
    for (auto& [done, outcome] : answers) done(std::move(outcome));
    rd_kafka_poll(producer_.get(), 0);
  }
}

bool SeekCoordinator::Broadcast(const std::string& id, Pending& p) {
  const std::string& region = p.request.region();
  if (absl::StatusOr<size_t> members =
          common::GroupMemberCount(producer_.get(), p.group, kAdminTimeout);
      !members.ok()) {
    log::Warn("seek: group members unknown; seeking anyway",
              {{"region", region}, {"error", members.status().ToString()}});
  } else if (*members == 0) {
    p.done(absl::FailedPreconditionError(
        absl::StrCat("region ", region, " has no subscriber on any bridge replica (its group ",
                     p.group, " has no members); seek once a warmer has subscribed")));
    return false;
  }
  absl::StatusOr<int> partitions =
      common::TopicPartitionCount(producer_.get(), options_.requests_topic, kAdminTimeout);
  if (!partitions.ok()) {
    p.done(absl::UnavailableError(
        absl::StrCat("seek: ", partitions.status().message(), "; nothing was moved")));
    return false;
  }
  p.partitions = *partitions;
  cdnwarm::v1::BridgeControl record;
  cdnwarm::v1::SeekCommand& command = *record.mutable_seek();
  command.set_seek_id(id);
  command.set_origin_replica(options_.replica);
  *command.mutable_request() = p.request;
  // Shares end before the answer is due, so what the answer says moved is what moved.
  *command.mutable_deadline() = common::ToProtoTimestamp(p.deadline - kShareMargin);
  command.set_group(p.group);
  command.set_requests_topic(options_.requests_topic);
  if (absl::Status s = Produce(id, record); !s.ok()) {
    p.done(absl::UnavailableError(absl::StrCat(
        "seek: the control topic: ", s.message(),
        "; the seek may have reached some replicas: list the subscriptions and seek again")));
    return false;
  }
  log::Info("seek broadcast", {{"region", region}, {"seek_id", id}});
  return true;
}

void SeekCoordinator::Handle(const rd_kafka_message_t& m) {
  cdnwarm::v1::BridgeControl record;
  if (!record.ParseFromArray(m.payload, static_cast<int>(m.len))) {
    log::Warn("control topic: a record that is not a BridgeControl", {{"offset", m.offset}});
    return;
  }
  if (record.has_seek()) {
    const cdnwarm::v1::SeekCommand& command = record.seek();
    const absl::Time deadline = common::FromProtoTimestamp(command.deadline());
    if (absl::Now() >= deadline) return;                              // answered already
    if (command.requests_topic() != options_.requests_topic) return;  // another deployment
    if (stopped()) return;                                            // SIGTERM: no new share
    std::optional<cdnwarm::v1::SeekReport> report =
        local_(command.request(), command.group(), deadline);
    if (!report) return;  // not a member of the region's group here
    report->set_seek_id(command.seek_id());
    report->set_replica(options_.replica);
    cdnwarm::v1::BridgeControl answer;
    *answer.mutable_seek_report() = *std::move(report);
    if (absl::Status s = Produce(command.seek_id(), answer); !s.ok()) {
      log::Warn("seek: report not sent", {{"seek_id", command.seek_id()}, {"error", s.ToString()}});
    }
    return;
  }
  if (!record.has_seek_report()) return;
  const cdnwarm::v1::SeekReport& report = record.seek_report();
  Done done;
  std::optional<absl::StatusOr<std::vector<cdnwarm::v1::PartitionInfo>>> outcome;
  {
    common::MutexLock lock(&mu_);
    auto it = pending_.find(report.seek_id());
    if (it == pending_.end()) return;  // another replica's seek, or answered already
    Pending& p = it->second;
    for (const cdnwarm::v1::PartitionInfo& info : report.moved()) {
      p.moved[info.partition()] = info;
      p.not_moved.erase(info.partition());
    }
    for (int32_t partition : report.not_moved()) {
      if (!p.moved.count(partition)) {
        p.not_moved[partition] = absl::StrCat(report.replica(), ": ", report.error());
      }
    }
    outcome = Outcome(p, false);
    if (!outcome) return;
    done = std::move(p.done);
    pending_.erase(it);
  }
  done(*std::move(outcome));
}

std::optional<absl::StatusOr<std::vector<cdnwarm::v1::PartitionInfo>>> SeekCoordinator::Outcome(
    const Pending& p, bool at_deadline) {
  std::vector<int32_t> silent;  // no replica reported holding them
  for (int32_t partition = 0; partition < p.partitions; ++partition) {
    if (!p.moved.count(partition) && !p.not_moved.count(partition)) silent.push_back(partition);
  }
  if (!silent.empty() && !at_deadline) return std::nullopt;
  if (silent.empty() && p.not_moved.empty()) {
    std::vector<cdnwarm::v1::PartitionInfo> out;
    for (const auto& [partition, info] : p.moved) out.push_back(info);
    return out;
  }
  std::vector<std::string> moved, failed;
  for (const auto& [partition, info] : p.moved) {
    moved.push_back(absl::StrCat(partition, " (", info.replica(), ")"));
  }
  for (const auto& [partition, why] : p.not_moved) {
    failed.push_back(absl::StrCat(partition, " (", why, ")"));
  }
  if (!silent.empty()) {
    failed.push_back(absl::StrCat(absl::StrJoin(silent, ", "),
                                  " (no replica reported holding them before the deadline)"));
  }
  return absl::UnavailableError(
      absl::StrCat("seek of region ", p.request.region(), " is partial: moved partitions ",
                   moved.empty() ? "none" : absl::StrJoin(moved, ", "),
                   "; not moved: ", absl::StrJoin(failed, ", "), "; seek again"));
}

absl::Status SeekCoordinator::Produce(const std::string& key,
                                      const cdnwarm::v1::BridgeControl& record) {
  last_delivery_ = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (common::KafkaErrorPtr e =
          common::ProduceCopy(producer_.get(), options_.control_topic, key,
                              record.SerializeAsString(), nullptr, {}, /*partition=*/0)) {
    return absl::UnavailableError(rd_kafka_error_string(e.get()));
  }
  if (rd_kafka_resp_err_t e = rd_kafka_flush(producer_.get(), kFlushTimeoutMs);
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Not sent later behind its caller's back; its delivery report is served here.
    rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(producer_.get(), 0);
    return absl::UnavailableError(rd_kafka_err2str(e));
  }
  if (last_delivery_ != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(rd_kafka_err2str(last_delivery_));
  }
  return absl::OkStatus();
}

}  // namespace cdnwarm::bridge
