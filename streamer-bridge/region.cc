#include "streamer-bridge/region.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/core/contract.h"
#include "common/core/proto_time.h"
#include "common/core/sync.h"

namespace cdnwarm::bridge {
namespace {

constexpr absl::Duration kMaxRetryDelay = absl::Hours(1);

// The URL and every variant with its headers, names and values: a warm with
// "accept-encoding: gzip" says nothing about the object cached for "br".
std::string CoalesceKey(const cdnwarm::v1::WarmTask& t) {
  std::string key = t.url();
  for (const auto& v : t.variants()) {
    absl::StrAppend(&key, "\n", v.name(), "{");
    for (const auto& h : v.headers()) {
      absl::StrAppend(&key, absl::AsciiStrToLower(h.name()), ":", h.value(), "\n");
    }
    key += "}";
  }
  return key;
}

// Results are Kafka records: whatever a subscriber reports (an Ack may carry 4 MB), what
// the bridge produces stays far below a record's size limit. A result the broker refuses
// would never be stored, and its partition's commit would wait behind it for good.
constexpr size_t kMaxResultBytes = 32 * 1024;

void Cut(std::string* s, size_t n) {
  if (s->size() <= n) return;
  s->resize(n);
  s->append("... (truncated)");
}

void BoundResult(cdnwarm::v1::WarmResult& r) {
  if (r.ByteSizeLong() <= kMaxResultBytes) return;
  Cut(r.mutable_error(), 1024);
  Cut(r.mutable_warmer_id(), 256);
  for (auto& v : *r.mutable_variants()) {
    Cut(v.mutable_variant(), 64);
    Cut(v.mutable_pop(), 256);
    if (v.layers_size() > 8) v.mutable_layers()->DeleteSubrange(8, v.layers_size() - 8);
  }
  if (r.ByteSizeLong() > kMaxResultBytes) {
    for (auto& v : *r.mutable_variants()) v.clear_layers();
  }
  if (r.ByteSizeLong() > kMaxResultBytes) {
    r.clear_variants();
    r.mutable_error()->append(" (variant details dropped: too large)");
  }
}

std::string NewIncarnation() {
  std::random_device rd;
  const uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return absl::StrFormat("%016x", v);
}

}  // namespace

Region::Region(RegionOptions options, ResultSink& results)
    : options_(std::move(options)),
      incarnation_(NewIncarnation()),
      ack_prefix_(absl::StrCat(options_.replica, ".", options_.region, ".", incarnation_, ".")),
      results_(results) {
  link_->self = this;
}

Region::~Region() {
  common::MutexLock lock(&link_->mu);
  link_->self = nullptr;
}

absl::Status Region::AddSubscriber(const std::string& id, uint32_t max_outstanding,
                                   absl::Duration ack_deadline, std::string peer,
                                   DeliverySink* sink) {
  common::MutexLock lock(&mu_);
  if (subscribers_.count(id) > 0) {
    return absl::AlreadyExistsError(absl::StrCat("subscriber_id \"", id,
                                                 "\" already has a stream for region ",
                                                 options_.region, " on this bridge"));
  }
  Subscriber& s = subscribers_[id];
  s.max_outstanding = max_outstanding;
  s.ack_deadline = ack_deadline;
  s.peer = std::move(peer);
  s.sink = sink;
  s.connected_at = options_.clock->Now();
  DispatchLocked();
  return absl::OkStatus();
}

void Region::RemoveSubscriber(const std::string& id, DeliverySink* sink,
                              const std::vector<std::string>& never_sent) {
  common::MutexLock lock(&mu_);
  auto it = subscribers_.find(id);
  if (it == subscribers_.end() || it->second.sink != sink) return;
  subscribers_.erase(it);
  // Its deliveries go to the others at once, ahead of newer work.
  std::set<uint64_t> unsent;
  for (const std::string& ack_id : never_sent) {
    AckIdParts parts;
    if (ParseAckId(ack_id, options_.replica, &parts) && parts.incarnation == incarnation_) {
      unsent.insert(parts.seq);
    }
  }
  std::vector<TaskPtr> back;
  for (auto o = outstanding_.begin(); o != outstanding_.end();) {
    if (o->second.subscriber == id) {
      if (unsent.count(o->first) > 0 && o->second.task->attempts > 0) {
        --o->second.task->attempts;  // queued on the stream, never written: no attempt
      }
      back.push_back(std::move(o->second.task));
      o = outstanding_.erase(o);
    } else {
      ++o;
    }
  }
  std::sort(back.begin(), back.end(), [](const TaskPtr& a, const TaskPtr& b) {
    return std::tie(a->partition, a->offset) > std::tie(b->partition, b->offset);
  });
  for (TaskPtr& t : back) {
    // The delivery counted as an attempt when it was made (Pub/Sub's delivery_attempt):
    // a stream that ends with it, a warmer killed by it, used one up.
    t->last.set_error("the subscriber's stream ended during the delivery");
    if (t->attempts > 0 && static_cast<int>(t->attempts) >= options_.max_attempts) {
      RetryOrDeadLetterLocked(std::move(t), absl::ZeroDuration());
      continue;
    }
    ++redeliveries_;
    t->not_before = absl::InfinitePast();
    ready_.push_front(std::move(t));
  }
  DispatchLocked();
}

void Region::DetachSubscribers() {
  common::MutexLock lock(&mu_);
  subscribers_.clear();
}

absl::Status Region::StopDelivering(const std::string& id) {
  common::MutexLock lock(&mu_);
  auto it = subscribers_.find(id);
  if (it == subscribers_.end()) {
    return absl::NotFoundError(absl::StrCat("subscriber_id \"", id, "\" has no stream for region ",
                                            options_.region, " on this bridge"));
  }
  it->second.draining = true;
  if (it->second.outstanding == 0) it->second.sink->Drained();
  return absl::OkStatus();
}

size_t Region::subscriber_count() const {
  common::MutexLock lock(&mu_);
  return subscribers_.size();
}

void Region::Assigned(int32_t partition) {
  common::MutexLock lock(&mu_);
  PartitionState& p = partitions_[partition];
  p = PartitionState{};
  p.generation = next_generation_++;
}

void Region::Enqueue(int32_t partition, int64_t offset, cdnwarm::v1::WarmTask task) {
  common::MutexLock lock(&mu_);
  auto p = partitions_.find(partition);
  if (p == partitions_.end()) return;  // revoked meanwhile
  p->second.tracker.Started(offset);
  auto t = std::make_unique<Task>();
  t->partition = partition;
  t->offset = offset;
  t->generation = p->second.generation;
  t->task = std::move(task);
  const auto& targets = t->task.target_regions();
  if (!targets.empty() &&
      std::find(targets.begin(), targets.end(), options_.region) == targets.end()) {
    cdnwarm::v1::WarmResult r;
    r.set_error("not targeted at this region");
    FinishLocked(*t, cdnwarm::v1::OUTCOME_SKIPPED, std::move(r), false);
    return;
  }
  if (options_.coalesce_window > absl::ZeroDuration() && t->task.has_enqueued_at()) {
    // Only a warm that happened after this task was asked for makes it redundant: one
    // asked for after a purge must still be fetched.
    PruneCoalescingLocked();
    auto w = warmed_at_.find(CoalesceKey(t->task));
    if (w != warmed_at_.end() && w->second >= common::FromProtoTimestamp(t->task.enqueued_at()) &&
        options_.clock->Now() - w->second < options_.coalesce_window) {
      cdnwarm::v1::WarmResult r;
      r.set_error(absl::StrCat("warmed in this region ",
                               absl::FormatDuration(options_.clock->Now() - w->second), " ago"));
      FinishLocked(*t, cdnwarm::v1::OUTCOME_COALESCED, std::move(r), false);
      return;
    }
  }
  ready_.push_back(std::move(t));
  DispatchLocked();
}

void Region::Revoked(const std::vector<int32_t>& partitions) {
  common::MutexLock lock(&mu_);
  auto gone = [&](int32_t p) {
    return std::find(partitions.begin(), partitions.end(), p) != partitions.end();
  };
  for (int32_t p : partitions) partitions_.erase(p);
  ready_.erase(std::remove_if(ready_.begin(), ready_.end(),
                              [&](const TaskPtr& t) { return gone(t->partition); }),
               ready_.end());
  for (auto it = delayed_.begin(); it != delayed_.end();) {
    it = gone(it->second->partition) ? delayed_.erase(it) : std::next(it);
  }
  for (auto it = outstanding_.begin(); it != outstanding_.end();) {
    if (gone(it->second.task->partition)) {
      TakeOutstandingLocked(it++);
    } else {
      ++it;
    }
  }
  DispatchLocked();
}

void Region::Repositioned(const std::vector<int32_t>& partitions) {
  common::MutexLock lock(&mu_);
  auto moved = [&](int32_t p) {
    return std::find(partitions.begin(), partitions.end(), p) != partitions.end();
  };
  for (int32_t p : partitions) {
    PartitionState& state = partitions_[p];
    state = PartitionState{};
    state.generation = next_generation_++;  // results of earlier deliveries leave it alone
  }
  ready_.erase(std::remove_if(ready_.begin(), ready_.end(),
                              [&](const TaskPtr& t) { return moved(t->partition); }),
               ready_.end());
  for (auto it = delayed_.begin(); it != delayed_.end();) {
    it = moved(it->second->partition) ? delayed_.erase(it) : std::next(it);
  }
  DispatchLocked();
}

std::map<int32_t, int64_t> Region::CommitPoints() {
  common::MutexLock lock(&mu_);
  ApplyStoredLocked();
  std::map<int32_t, int64_t> out;
  for (const auto& [p, state] : partitions_) {
    const int64_t point = state.tracker.CommitPoint();
    if (point >= 0) out[p] = point;
  }
  return out;
}

size_t Region::buffered() const {
  common::MutexLock lock(&mu_);
  return ready_.size() + delayed_.size();
}

bool Region::BufferFull() const { return buffered() >= options_.buffer_limit; }

bool Region::WaitForRoom(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  common::MutexLock lock(&mu_);
  while (ready_.size() + delayed_.size() >= options_.buffer_limit) {
    if (room_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return ready_.size() + delayed_.size() < options_.buffer_limit;
}

std::string Region::NewAckId(uint64_t* seq) {
  *seq = next_ack_++;
  std::string id = ack_prefix_;
  absl::StrAppend(&id, *seq);
  return id;
}

bool ParseAckId(absl::string_view ack_id, absl::string_view replica, AckIdParts* parts) {
  // "<replica>.<region>.<incarnation>.<seq>", read from the right: a replica id (a host
  // name) may hold dots; region, incarnation and sequence never do. No copies: the parts
  // view the id (every ack entry is parsed, on the bridge's hottest path).
  if (ack_id.size() < replica.size() + 1 || !absl::StartsWith(ack_id, replica) ||
      ack_id[replica.size()] != '.') {
    return false;
  }
  absl::string_view rest = ack_id.substr(replica.size() + 1);
  const size_t seq_dot = rest.rfind('.');
  if (seq_dot == absl::string_view::npos) return false;
  const absl::string_view seq = rest.substr(seq_dot + 1);
  rest = rest.substr(0, seq_dot);
  const size_t incarnation_dot = rest.rfind('.');
  if (incarnation_dot == absl::string_view::npos) return false;
  const absl::string_view incarnation = rest.substr(incarnation_dot + 1);
  const absl::string_view region = rest.substr(0, incarnation_dot);
  if (region.empty() || region.find('.') != absl::string_view::npos) return false;
  if (incarnation.size() != 16 || !std::all_of(incarnation.begin(), incarnation.end(),
                                               [](char c) { return absl::ascii_isxdigit(c); })) {
    return false;
  }
  if (seq.empty() ||
      !std::all_of(seq.begin(), seq.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return false;
  }
  if (!absl::SimpleAtoi(seq, &parts->seq)) return false;
  parts->region = region;
  parts->incarnation = incarnation;
  return true;
}

void Region::Reject(int32_t partition, int64_t offset, absl::string_view reason,
                    std::string raw_key, std::string raw_value) {
  common::MutexLock lock(&mu_);
  auto p = partitions_.find(partition);
  if (p == partitions_.end()) return;
  p->second.tracker.Started(offset);
  Task t;
  t.partition = partition;
  t.offset = offset;
  t.generation = p->second.generation;
  t.raw_key = std::move(raw_key);
  t.raw_value = std::move(raw_value);
  cdnwarm::v1::WarmResult r;
  r.set_error(std::string(reason));
  FinishLocked(t, cdnwarm::v1::OUTCOME_FAILED, std::move(r), true);
}

absl::Duration Region::Backoff(uint32_t attempts) {
  const int shift = static_cast<int>(std::min<uint32_t>(attempts > 0 ? attempts - 1 : 0, 20));
  const absl::Duration base = std::min(options_.max_backoff, options_.min_backoff * (1 << shift));
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  return base * jitter(rng_);
}

void Region::DispatchLocked() {
  const absl::Time now = options_.clock->Now();
  const size_t ready_before = ready_.size();
  while (!ready_.empty()) {
    // The subscriber with the most free credit.
    Subscriber* best = nullptr;
    const std::string* best_id = nullptr;
    uint32_t best_free = 0;
    for (auto& [id, s] : subscribers_) {
      if (s.draining || s.closing) continue;
      const uint32_t free = s.max_outstanding > s.outstanding
                                ? static_cast<uint32_t>(s.max_outstanding - s.outstanding)
                                : 0;
      if (free > best_free) {
        best = &s;
        best_id = &id;
        best_free = free;
      }
    }
    if (best == nullptr) break;
    TaskPtr t = std::move(ready_.front());
    ready_.pop_front();
    if (t->task.has_not_after() && common::FromProtoTimestamp(t->task.not_after()) < now) {
      cdnwarm::v1::WarmResult r = t->last;
      r.set_error("expired before it could be delivered");
      FinishLocked(*t, cdnwarm::v1::OUTCOME_EXPIRED, std::move(r), false);
      continue;
    }
    ++t->attempts;
    uint64_t seq = 0;
    cdnwarm::v1::Delivery d;
    d.set_ack_id(NewAckId(&seq));
    *d.mutable_task() = t->task;
    d.set_delivery_attempt(t->attempts);
    const absl::Time deadline = now + best->ack_deadline;
    *d.mutable_deadline() = common::ToProtoTimestamp(deadline);
    if (!best->sink->Send(std::move(d))) {
      // The stream is ending: not an attempt; first in line for the others.
      --t->attempts;
      best->closing = true;
      ready_.push_front(std::move(t));
      continue;
    }
    outstanding_.emplace_hint(outstanding_.end(), seq,
                              Outstanding{std::move(t), *best_id, deadline, now});
    earliest_deadline_ = std::min(earliest_deadline_, deadline);
    ++best->outstanding;
    ++best->delivered;
  }
  // The consumer may be waiting for room (WaitForRoom).
  if (ready_.size() < ready_before) room_.Signal();
}

void Region::FinishLocked(Task& task, cdnwarm::v1::Outcome outcome, cdnwarm::v1::WarmResult r,
                          bool dead_letter) {
  BoundResult(r);
  r.set_task_id(task.task.task_id());
  r.set_job_id(task.task.job_id());
  r.set_url(task.task.url());
  r.set_region(options_.region);
  r.set_outcome(outcome);
  r.set_attempts(task.attempts);
  if (!r.has_finished_at())
    *r.mutable_finished_at() = common::ToProtoTimestamp(options_.clock->Now());
  if (outcome == cdnwarm::v1::OUTCOME_WARMED && options_.coalesce_window > absl::ZeroDuration()) {
    const absl::Time now = options_.clock->Now();
    std::string key = CoalesceKey(task.task);
    warmed_at_[key] = now;
    warmed_order_.emplace_back(now, std::move(key));
  }
  // The offset is finished once every record about it is stored.
  auto remaining = std::make_shared<std::atomic<int>>(dead_letter ? 2 : 1);
  auto stored = [link = link_, remaining, partition = task.partition, generation = task.generation,
                 offset = task.offset] {
    if (remaining->fetch_sub(1) != 1) return;
    common::MutexLock lock(&link->mu);
    if (link->self != nullptr) link->self->OffsetStored(partition, generation, offset);
  };
  if (dead_letter) {
    ++dead_letters_;
    DeadLetterSource source{.partition = task.partition, .offset = task.offset};
    if (!task.raw_value.empty() || !task.raw_key.empty()) {
      source.raw_key = &task.raw_key;
      source.raw_value = &task.raw_value;
    }
    results_.DeadLetter(task.task, r, source, stored);
  }
  results_.Result(r, stored);
}

void Region::PruneCoalescingLocked() {
  const absl::Time horizon = options_.clock->Now() - options_.coalesce_window;
  while (!warmed_order_.empty() && warmed_order_.front().first < horizon) {
    auto w = warmed_at_.find(warmed_order_.front().second);
    // A later warm of the same key has its own, later entry.
    if (w != warmed_at_.end() && w->second == warmed_order_.front().first) warmed_at_.erase(w);
    warmed_order_.pop_front();
  }
}

size_t Region::coalescing_size() const {
  common::MutexLock lock(&mu_);
  return warmed_at_.size();
}

void Region::OffsetStored(int32_t partition, uint64_t generation, int64_t offset) {
  common::MutexLock lock(&stored_mu_);
  stored_.push_back({partition, generation, offset});
}

void Region::ApplyStoredLocked() {
  std::vector<StoredOffset> stored;
  {
    common::MutexLock lock(&stored_mu_);
    stored.swap(stored_);
  }
  for (const StoredOffset& s : stored) {
    auto p = partitions_.find(s.partition);
    if (p == partitions_.end() || p->second.generation != s.generation) continue;
    p->second.tracker.Finished(s.offset);
  }
}

void Region::RetryLocked(TaskPtr task, absl::Duration delay, bool count_redelivery) {
  if (count_redelivery) ++redeliveries_;
  if (delay <= absl::ZeroDuration()) {
    ready_.push_front(std::move(task));
    return;
  }
  task->not_before = options_.clock->Now() + delay;
  const absl::Time at = task->not_before;
  delayed_.emplace(at, std::move(task));
}

cdnwarm::v1::AckStatus Region::FindOwnedLocked(const std::string& ack_id,
                                               const std::string& subscriber,
                                               std::map<uint64_t, Outstanding>::iterator* it) {
  AckIdParts parts;
  if (!ParseAckId(ack_id, options_.replica, &parts) || parts.region != options_.region) {
    return cdnwarm::v1::ACK_STATUS_INVALID;
  }
  // An id of an earlier incarnation names no delivery of this one.
  if (parts.incarnation != incarnation_) return cdnwarm::v1::ACK_STATUS_STALE;
  *it = outstanding_.find(parts.seq);
  if (*it == outstanding_.end()) return cdnwarm::v1::ACK_STATUS_STALE;
  if ((*it)->second.subscriber != subscriber) return cdnwarm::v1::ACK_STATUS_WRONG_SUBSCRIBER;
  return cdnwarm::v1::ACK_STATUS_OK;
}

Region::TaskPtr Region::TakeOutstandingLocked(std::map<uint64_t, Outstanding>::iterator it) {
  TaskPtr task = std::move(it->second.task);
  auto s = subscribers_.find(it->second.subscriber);
  if (s != subscribers_.end()) {
    --s->second.outstanding;
    if (s->second.draining && s->second.outstanding == 0) s->second.sink->Drained();
  }
  outstanding_.erase(it);
  return task;
}

void Region::RetryOrDeadLetterLocked(TaskPtr task, absl::Duration min_delay) {
  if (static_cast<int>(task->attempts) >= options_.max_attempts) {
    cdnwarm::v1::WarmResult last = task->last;
    last.set_error(absl::StrCat("gave up after ", task->attempts,
                                " attempts; last error: ", task->last.error()));
    FinishLocked(*task, cdnwarm::v1::OUTCOME_FAILED, std::move(last), true);
    return;
  }
  const absl::Duration delay = std::max(min_delay, Backoff(task->attempts));
  RetryLocked(std::move(task), delay, true);
}

std::vector<cdnwarm::v1::AckStatus> Region::Ack(const cdnwarm::v1::AckRequest& request) {
  std::vector<cdnwarm::v1::AckStatus> out;
  common::MutexLock lock(&mu_);
  for (const cdnwarm::v1::AckEntry& e : request.entries()) {
    auto it = outstanding_.end();
    const cdnwarm::v1::AckStatus status =
        e.outcome() == cdnwarm::v1::ACK_OUTCOME_UNSPECIFIED
            ? cdnwarm::v1::ACK_STATUS_INVALID
            : FindOwnedLocked(e.ack_id(), request.subscriber_id(), &it);
    if (status == cdnwarm::v1::ACK_STATUS_OK && !e.result().task_id().empty() &&
        e.result().task_id() != it->second.task->task.task_id()) {
      out.push_back(cdnwarm::v1::ACK_STATUS_TASK_MISMATCH);
      continue;
    }
    out.push_back(status);
    if (status != cdnwarm::v1::ACK_STATUS_OK) continue;
    TaskPtr task = TakeOutstandingLocked(it);
    switch (e.outcome()) {
      case cdnwarm::v1::ACK_OUTCOME_WARMED:
        FinishLocked(*task, cdnwarm::v1::OUTCOME_WARMED, e.result(), false);
        break;
      case cdnwarm::v1::ACK_OUTCOME_FAILED:
        FinishLocked(*task, cdnwarm::v1::OUTCOME_FAILED, e.result(), false);
        break;
      case cdnwarm::v1::ACK_OUTCOME_UNVERIFIED:
        FinishLocked(*task, cdnwarm::v1::OUTCOME_UNVERIFIED, e.result(), false);
        break;
      case cdnwarm::v1::ACK_OUTCOME_RELEASE:
        // Handed back by a draining subscriber: the attempt is given back, no backoff,
        // first in line for the others. From one that does not drain it is a RETRY, so no
        // subscriber can keep a task from the dead-letter topic by releasing it.
        if (auto s = subscribers_.find(request.subscriber_id());
            s != subscribers_.end() && s->second.draining) {
          if (task->attempts > 0) --task->attempts;
          RetryLocked(std::move(task), absl::ZeroDuration(), true);
          break;
        }
        [[fallthrough]];
      default:
        task->last = e.result();
        BoundResult(task->last);
        RetryOrDeadLetterLocked(
            std::move(task), std::min(kMaxRetryDelay, common::FromProtoDuration(e.retry_delay())));
    }
  }
  DispatchLocked();
  return out;
}

std::vector<cdnwarm::v1::AckStatus> Region::Extend(
    const cdnwarm::v1::ModifyAckDeadlineRequest& request) {
  std::vector<cdnwarm::v1::AckStatus> out;
  const absl::Duration d = common::FromProtoDuration(request.ack_deadline());
  common::MutexLock lock(&mu_);
  for (const std::string& id : request.ack_ids()) {
    auto it = outstanding_.end();
    const cdnwarm::v1::AckStatus status = d < absl::ZeroDuration() || d > common::kMaxAckDeadline
                                              ? cdnwarm::v1::ACK_STATUS_INVALID
                                              : FindOwnedLocked(id, request.subscriber_id(), &it);
    out.push_back(status);
    if (status != cdnwarm::v1::ACK_STATUS_OK) continue;
    if (d > absl::ZeroDuration()) {
      it->second.deadline = options_.clock->Now() + d;
      earliest_deadline_ = std::min(earliest_deadline_, it->second.deadline);
      continue;
    }
    // Zero releases the delivery for immediate redelivery.
    RetryLocked(TakeOutstandingLocked(it), absl::ZeroDuration(), true);
  }
  DispatchLocked();
  return out;
}

void Region::Tick() {
  common::MutexLock lock(&mu_);
  ApplyStoredLocked();
  PruneCoalescingLocked();
  const absl::Time now = options_.clock->Now();
  if (earliest_deadline_ <= now) {
    earliest_deadline_ = absl::InfiniteFuture();
    for (auto it = outstanding_.begin(); it != outstanding_.end();) {
      if (it->second.deadline > now) {
        earliest_deadline_ = std::min(earliest_deadline_, it->second.deadline);
        ++it;
        continue;
      }
      TaskPtr task = TakeOutstandingLocked(it++);
      task->last.set_error("ack deadline expired");
      RetryOrDeadLetterLocked(std::move(task), absl::ZeroDuration());
    }
  }
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    ready_.push_back(std::move(delayed_.begin()->second));
    delayed_.erase(delayed_.begin());
  }
  DispatchLocked();
}

cdnwarm::v1::RegionInfo Region::Info() const {
  common::MutexLock lock(&mu_);
  cdnwarm::v1::RegionInfo info;
  info.set_region(options_.region);
  const absl::Time now = options_.clock->Now();
  for (const auto& [id, s] : subscribers_) {
    cdnwarm::v1::SubscriberInfo* si = info.add_subscribers();
    si->set_subscriber_id(id);
    si->set_peer(s.peer);
    si->set_max_outstanding(s.max_outstanding);
    si->set_outstanding(static_cast<uint32_t>(s.outstanding));
    si->set_delivered(s.delivered);
    *si->mutable_connected_at() = common::ToProtoTimestamp(s.connected_at);
  }
  absl::Time oldest = now;
  for (const auto& [id, o] : outstanding_) oldest = std::min(oldest, o.delivered_at);
  info.set_outstanding(outstanding_.size());
  info.set_buffered(ready_.size() + delayed_.size());
  *info.mutable_oldest_unacked_age() = common::ToProtoDuration(now - oldest);
  info.set_redeliveries(redeliveries_);
  info.set_dead_letters(dead_letters_);
  return info;
}

}  // namespace cdnwarm::bridge
