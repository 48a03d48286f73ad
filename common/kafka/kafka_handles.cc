#include "common/kafka/kafka_handles.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/core/log.h"
#include "common/core/sync.h"

namespace cdnwarm::common {
namespace {

// The next wait of a loop serving a queue until `deadline`: a tenth of a second at most,
// 1 ms at least; 0 once the deadline has passed.
int SliceMs(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(left), 1, 100));
}

// Destroys that DestroyWithin started and that have not finished, by id. Never freed: a
// destroy may outlive every static of the process.
struct BackgroundDestroys {
  Mutex mu;
  CondVar finished;  // a destroy finished
  uint64_t next_id ABSL_GUARDED_BY(mu) = 0;
  std::set<uint64_t> running ABSL_GUARDED_BY(mu);
};

// How long exit() waits for destroys still running. A destroy that outlasts it is a bug
// (librdkafka waits for a session or request timeout, a minute at most): the process says
// so and ends with status 1 rather than hang.
constexpr absl::Duration kExitWait = absl::Seconds(90);

BackgroundDestroys& Destroys() {
  static BackgroundDestroys* const d = [] {
    auto* made = new BackgroundDestroys;
    // exit() would free what a destroy still running uses: it waits for them first.
    std::atexit([] {
      if (const int left = AwaitKafkaDestroys(absl::Now() + kExitWait); left > 0) {
        log::Error("Kafka clients still being destroyed at exit; ending without them",
                   {{"clients", static_cast<int64_t>(left)}, {"waited", kExitWait}});
        std::_Exit(1);
      }
    });
    return made;
  }();
  return *d;
}

struct CommitAnswer {
  bool done = false;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
};

// Runs only while CommitWithin serves its queue: a reply that comes after it gave up
// reaches a destroyed queue and is dropped, never this callback.
void OnCommitted(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t*,
                 void* opaque) {
  CommitAnswer* answer = static_cast<CommitAnswer*>(opaque);
  answer->done = true;
  answer->err = err;
}

}  // namespace

absl::StatusOr<KafkaPtr> NewKafkaClient(rd_kafka_type_t type, KafkaConfPtr conf) {
  char err[512] = {};
  KafkaPtr rk(rd_kafka_new(type, conf.get(), err, sizeof(err)));
  if (!rk) {
    return absl::InvalidArgumentError(
        absl::StrCat(type == RD_KAFKA_PRODUCER ? "Kafka producer: " : "Kafka consumer: ", err));
  }
  conf.release();  // owned by the client now
  return rk;
}

rd_kafka_resp_err_t CommitWithin(rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* offsets,
                                 absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  KafkaQueuePtr queue(rd_kafka_queue_new(rk));
  CommitAnswer answer;
  if (rd_kafka_resp_err_t e =
          rd_kafka_commit_queue(rk, offsets, queue.get(), &OnCommitted, &answer);
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return e;
  }
  // Only the commit's answer reaches this queue, never a record (on which librdkafka's
  // rd_kafka_queue_poll_callback would assert).
  while (!answer.done) {
    const int ms = SliceMs(deadline);
    if (ms == 0) return RD_KAFKA_RESP_ERR__TIMED_OUT;
    rd_kafka_queue_poll_callback(queue.get(), ms);
  }
  return answer.err;
}

bool CloseConsumer(KafkaPtr& rk, absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration()) {  // no time to start a close: leave without one
    DestroyWithin(std::move(rk), absl::ZeroDuration());
    return false;
  }
  const absl::Time deadline = absl::Now() + timeout;
  KafkaQueuePtr queue(rd_kafka_queue_new(rk.get()));
  // The close forwards the consumer's queue here: records fetched meanwhile arrive with the
  // rebalance. rd_kafka_consume_queue serves the rebalance callback and returns the records
  // (and errors), which are dropped: uncommitted, they are read again by the group's next
  // member. (rd_kafka_queue_poll_callback would abort on a record: librdkafka asserts.)
  KafkaErrorPtr refused(rd_kafka_consumer_close_queue(rk.get(), queue.get()));
  bool closed = !refused;
  while (closed && !rd_kafka_consumer_closed(rk.get())) {
    const int ms = SliceMs(deadline);
    if (ms == 0) {
      closed = false;
      break;
    }
    if (rd_kafka_message_t* m = rd_kafka_consume_queue(queue.get(), ms); m != nullptr) {
      rd_kafka_message_destroy(m);
    }
  }
  // What reached the queue meanwhile (a rebalance whose callback has not run) is served
  // without waiting, so the group is not left waiting for it at destroy.
  if (!closed && !refused) {
    while (rd_kafka_message_t* m = rd_kafka_consume_queue(queue.get(), 0)) {
      rd_kafka_message_destroy(m);
    }
  }
  queue.reset();  // before the handle, which it refers to
  if (closed) {
    rk.reset();
  } else {
    DestroyWithin(std::move(rk), deadline - absl::Now());
  }
  return closed;
}

bool DestroyWithin(KafkaPtr rk, absl::Duration timeout) {
  if (rk == nullptr) return true;
  BackgroundDestroys& d = Destroys();
  const absl::Time deadline = absl::Now() + timeout;
  MutexLock lock(&d.mu);
  const uint64_t id = d.next_id++;
  // Started under the lock, so the thread's end (which takes it) finds its id recorded.
  std::thread([&d, id, raw = rk.release()] {
    // Never a consumer close here: it would run the rebalance callback on this thread,
    // for an owner that may be gone.
    rd_kafka_destroy_flags(raw, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    MutexLock done(&d.mu);
    d.running.erase(id);
    d.finished.SignalAll();
  }).detach();  // joined by nothing: AwaitKafkaDestroys counts it instead
  d.running.insert(id);
  while (d.running.count(id) != 0) {
    if (d.finished.WaitWithDeadline(&d.mu, deadline)) break;
  }
  return d.running.count(id) == 0;
}

int AwaitKafkaDestroys(absl::Time deadline) {
  BackgroundDestroys& d = Destroys();
  MutexLock lock(&d.mu);
  while (!d.running.empty()) {
    if (d.finished.WaitWithDeadline(&d.mu, deadline)) break;
  }
  return static_cast<int>(d.running.size());
}

void ExitWhenKafkaIsDestroyed(absl::Duration grace, int code) {
  if (const int left = AwaitKafkaDestroys(absl::Now() + grace); left > 0) {
    log::Warn(
        "exiting with Kafka clients still closing: what they had in flight (a commit waiting "
        "for a coordinator) is not waited for; the group times the member out",
        {{"clients", static_cast<int64_t>(left)}, {"waited", grace}});
    std::fflush(nullptr);
    std::_Exit(code);
  }
}

KafkaErrorPtr ProduceCopy(rd_kafka_t* rk, const std::string& topic, std::string_view key,
                          std::string_view value, void* opaque,
                          const std::vector<std::pair<std::string, std::string>>& headers,
                          int32_t partition) {
  std::vector<rd_kafka_vu_t> vus(6 + headers.size());
  vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[0].u.cstr = topic.c_str();
  vus[1].vtype = RD_KAFKA_VTYPE_KEY;
  vus[1].u.mem = {const_cast<char*>(key.data()), key.size()};
  vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[2].u.mem = {const_cast<char*>(value.data()), value.size()};
  vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[3].u.i = RD_KAFKA_MSG_F_COPY;
  vus[4].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vus[4].u.ptr = opaque;
  vus[5].vtype = RD_KAFKA_VTYPE_PARTITION;
  vus[5].u.i32 = partition;
  for (size_t i = 0; i < headers.size(); ++i) {
    rd_kafka_vu_t& h = vus[6 + i];
    h.vtype = RD_KAFKA_VTYPE_HEADER;
    h.u.header.name = headers[i].first.c_str();
    h.u.header.val = headers[i].second.data();
    h.u.header.size = static_cast<ssize_t>(headers[i].second.size());
  }
  return KafkaErrorPtr(rd_kafka_produceva(rk, vus.data(), vus.size()));
}

}  // namespace cdnwarm::common
