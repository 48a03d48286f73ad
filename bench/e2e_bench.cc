// End to end: region-warms/s through producer -> Kafka -> bridge -> warmers -> edges, and
// the latency from a Warm reply to the task being warmed in every region, with URLs sent
// at a paced rate. Results are read from the results topic by a consumer of our own.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/scenarios.h"
#include "cdnwarm/v1/producer.grpc.pb.h"
#include "common/core/proto_time.h"
#include "common/kafka/kafka_handles.h"
#include "grpcpp/client_context.h"

namespace cdnwarm::bench {
namespace {

using MetadataPtr =
    std::unique_ptr<const rd_kafka_metadata_t, common::FreeWith<rd_kafka_metadata_destroy>>;

// Reads the results topic from the end it had at Start(), on its own thread.
class ResultsWatcher {
 public:
  using OnResult = std::function<void(const v1::WarmResult&, Clock::time_point)>;

  static absl::StatusOr<std::unique_ptr<ResultsWatcher>> Start(const Params& p,
                                                               OnResult on_result) {
    common::KafkaProperties props = p.Kafka();
    props.Set("group.id", absl::StrCat("bench-results-", p.run));
    props.Set("enable.auto.commit", "false");
    // The observer's own delay: fetch as soon as a record is there, not after 500 ms.
    props.Set("fetch.wait.max.ms", "5");
    absl::StatusOr<common::KafkaConfPtr> conf = props.ToConf();
    if (!conf.ok()) return conf.status();
    char err[512] = {};
    std::unique_ptr<ResultsWatcher> w(new ResultsWatcher(std::move(on_result)));
    w->rk_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), err, sizeof(err)));
    if (!w->rk_) return absl::InvalidArgumentError(absl::StrCat("Kafka consumer: ", err));
    conf->release();
    rd_kafka_poll_set_consumer(w->rk_.get());

    const rd_kafka_metadata_t* raw = nullptr;
    if (rd_kafka_resp_err_t e = rd_kafka_metadata(w->rk_.get(), 1, nullptr, &raw, 10000); e) {
      return absl::UnavailableError(absl::StrCat("metadata: ", rd_kafka_err2str(e)));
    }
    MetadataPtr metadata(raw);
    common::KafkaTopicPartitionListPtr assignment(rd_kafka_topic_partition_list_new(8));
    for (int t = 0; t < metadata->topic_cnt; ++t) {
      const rd_kafka_metadata_topic_t& topic = metadata->topics[t];
      if (p.results_topic != topic.topic) continue;
      for (int i = 0; i < topic.partition_cnt; ++i) {
        int64_t low = 0, high = 0;
        if (rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
                w->rk_.get(), topic.topic, topic.partitions[i].id, &low, &high, 10000);
            e) {
          return absl::UnavailableError(absl::StrCat("watermarks: ", rd_kafka_err2str(e)));
        }
        rd_kafka_topic_partition_list_add(assignment.get(), topic.topic, topic.partitions[i].id)
            ->offset = high;
      }
    }
    if (assignment->cnt == 0) {
      return absl::NotFoundError(absl::StrCat("no partitions of ", p.results_topic));
    }
    if (rd_kafka_resp_err_t e = rd_kafka_assign(w->rk_.get(), assignment.get()); e) {
      return absl::UnavailableError(absl::StrCat("assign: ", rd_kafka_err2str(e)));
    }
    w->thread_ = std::thread([raw_w = w.get()] { raw_w->Run(); });
    return w;
  }

  ~ResultsWatcher() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (rk_) rd_kafka_consumer_close(rk_.get());
  }

 private:
  explicit ResultsWatcher(OnResult on_result) : on_result_(std::move(on_result)) {}
  void Run() {
    v1::WarmResult result;
    while (!stop_) {
      common::KafkaMessagePtr m(rd_kafka_consumer_poll(rk_.get(), 50));
      if (!m || m->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      if (result.ParseFromArray(m->payload, static_cast<int>(m->len))) {
        on_result_(result, Clock::now());
      }
    }
  }

  OnResult on_result_;
  common::KafkaPtr rk_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

double Millis(Clock::duration d) { return absl::ToDoubleMilliseconds(absl::FromChrono(d)); }

// Saturation's URLs on one WarmBatch stream, one per message, as fast as it takes them.
absl::Status SendBatch(const Params& p, v1::Producer::Stub& stub) {
  grpc::ClientContext ctx;
  v1::WarmBatchReply reply;
  std::unique_ptr<grpc::ClientWriter<v1::WarmRequest>> writer = stub.WarmBatch(&ctx, &reply);
  v1::WarmRequest req;
  for (uint64_t i = 0; i < p.count; ++i) {
    req.set_url(BenchUrl(p, "sat", i));
    if (!writer->Write(req)) break;
  }
  writer->WritesDone();
  if (absl::Status s = FromGrpc(writer->Finish(), "WarmBatch"); !s.ok()) return s;
  if (reply.accepted() != p.count) {
    return absl::InternalError(
        absl::StrCat("WarmBatch accepted ", reply.accepted(), " of ", p.count));
  }
  return absl::OkStatus();
}

// Saturation's URLs by unary Warm calls, a closed loop of p.concurrency in flight: each
// reply sends the next call (outside the lock: a callback may run inline). The state is
// shared with the callbacks, which may outlive the wait by their last few instructions.
struct UnaryLoop {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t next = 0, issued = 0, answered = 0;
  bool failed = false;
  absl::Status first_error;
};

void SendNext(const std::shared_ptr<UnaryLoop>& loop, const Params& p, v1::Producer::Stub& stub) {
  uint64_t i = 0;
  {
    std::lock_guard<std::mutex> lock(loop->mu);
    if (loop->next >= p.count || loop->failed) return;
    i = loop->next++;
    ++loop->issued;
  }
  AsyncWarm(stub, BenchUrl(p, "sat", i),
            [loop, &p, &stub](const grpc::Status& s, const v1::WarmReply&, Clock::time_point,
                              absl::Duration) {
              {
                std::lock_guard<std::mutex> lock(loop->mu);
                ++loop->answered;
                if (!s.ok() && loop->first_error.ok()) {
                  loop->first_error = FromGrpc(s, "Warm");
                  loop->failed = true;
                }
                loop->cv.notify_all();
              }
              SendNext(loop, p, stub);
            });
}

absl::Status SendUnary(const Params& p, v1::Producer::Stub& stub) {
  auto loop = std::make_shared<UnaryLoop>();
  for (int k = 0; k < p.concurrency; ++k) SendNext(loop, p, stub);
  std::unique_lock<std::mutex> lock(loop->mu);
  const bool done = loop->cv.wait_for(lock, absl::ToChronoNanoseconds(p.timeout), [&] {
    return loop->answered == loop->issued && (loop->answered == p.count || loop->failed);
  });
  if (!loop->first_error.ok()) return loop->first_error;
  if (!done) {
    loop->failed = true;  // no call after this one
    return absl::DeadlineExceededError(absl::StrCat("saturation: ", loop->answered, " of ", p.count,
                                                    " Warm calls answered in time"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status E2eSaturate(const Params& p) {
  const uint64_t target = p.count * p.regions.size();
  const std::string marker = absl::StrCat("/bench/", p.run, "/sat/");
  Progress progress;
  std::mutex mu;
  absl::flat_hash_set<std::string> seen;  // task id and region
  uint64_t duplicates = 0, not_warmed = 0;
  absl::StatusOr<std::unique_ptr<ResultsWatcher>> watcher =
      ResultsWatcher::Start(p, [&](const v1::WarmResult& r, Clock::time_point) {
        if (!absl::StrContains(r.url(), marker)) return;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!seen.insert(absl::StrCat(r.task_id(), " ", r.region())).second) {
            ++duplicates;
            return;
          }
          if (r.outcome() != v1::OUTCOME_WARMED) ++not_warmed;
        }
        progress.Add(1);
      });
  if (!watcher.ok()) return watcher.status();

  std::unique_ptr<v1::Producer::Stub> stub = ProducerStub(p);
  progress.Begin();
  if (absl::Status s = p.unary ? SendUnary(p, *stub) : SendBatch(p, *stub); !s.ok()) return s;
  if (!progress.WaitFor(target, p.timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("saturation: ", progress.count(), " of ", target, " region results in time"));
  }
  watcher->reset();
  Report("e2e-saturate")
      .Throughput(progress.count() - not_warmed, progress.window(), progress.window_cpu(),
                  "region-warms/s")
      .Add("intake", p.unary ? "unary" : "batch")
      .Add("concurrency", p.unary ? p.concurrency : 0)
      .Add("urls", static_cast<double>(p.count))
      .Add("regions", static_cast<double>(p.regions.size()))
      .Add("not_warmed", static_cast<double>(not_warmed))
      .Add("duplicates", static_cast<double>(duplicates))
      .Print();
  return absl::OkStatus();
}

absl::Status E2eLatency(const Params& p) {
  struct Job {
    std::optional<Clock::time_point> replied;
    absl::Time replied_wall;
    std::set<std::string> regions;
    absl::Time warmed_everywhere = absl::InfinitePast();  // latest finished_at so far
    absl::Duration last_get;     // the warm GET of the region that finished last
    Clock::time_point observed;  // when the last region's result was read
    bool counted = false;
  };
  const auto total = static_cast<uint64_t>(p.rate * absl::ToDoubleSeconds(p.duration));
  const std::string marker = absl::StrCat("/bench/", p.run, "/lat/");
  std::mutex mu;
  std::condition_variable cv;
  absl::flat_hash_map<std::string, Job> jobs;
  // The breakdown of "warmed": a warmed region's warm GET (the edge and its origin; the
  // result's latency), and all but the last region's warm GET (Kafka, the bridge, the
  // warmers' queues and the verify GET that follows a MISS).
  std::vector<double> warmed_ms, observed_ms, call_ms, outside_get_ms, get_ms;
  uint64_t complete = 0, replies = 0, not_warmed = 0;
  absl::Status first_error;
  // With the lock held: counts a job once it has its reply and every region's result.
  auto settle = [&](Job& job) {
    if (job.counted || !job.replied || job.regions.size() < p.regions.size()) return;
    job.counted = true;
    ++complete;
    warmed_ms.push_back(
        std::max(0.0, absl::ToDoubleMilliseconds(job.warmed_everywhere - job.replied_wall)));
    outside_get_ms.push_back(std::max(
        0.0, absl::ToDoubleMilliseconds(job.warmed_everywhere - job.last_get - job.replied_wall)));
    observed_ms.push_back(std::max(0.0, Millis(job.observed - *job.replied)));
    cv.notify_all();
  };
  absl::StatusOr<std::unique_ptr<ResultsWatcher>> watcher =
      ResultsWatcher::Start(p, [&](const v1::WarmResult& r, Clock::time_point at) {
        if (!absl::StrContains(r.url(), marker)) return;
        std::lock_guard<std::mutex> lock(mu);
        // A unary call's URL is its own job; a batch stream's URLs share one.
        Job& job = jobs[p.unary ? r.job_id() : r.url()];
        if (!job.regions.insert(r.region()).second) return;
        if (r.outcome() != v1::OUTCOME_WARMED) ++not_warmed;
        const absl::Time finished = common::FromProtoTimestamp(r.finished_at());
        const absl::Duration get = common::FromProtoDuration(r.latency());
        if (finished > job.warmed_everywhere) {
          job.warmed_everywhere = finished;
          job.last_get = get;
        }
        if (r.outcome() == v1::OUTCOME_WARMED) get_ms.push_back(absl::ToDoubleMilliseconds(get));
        job.observed = at;
        settle(job);
      });
  if (!watcher.ok()) return watcher.status();

  std::unique_ptr<v1::Producer::Stub> stub = ProducerStub(p);
  // Batch intake: one WarmBatch stream, one URL per message, each timed from its write.
  grpc::ClientContext batch_ctx;
  v1::WarmBatchReply batch_reply;
  std::unique_ptr<grpc::ClientWriter<v1::WarmRequest>> batch;
  if (!p.unary) batch = stub->WarmBatch(&batch_ctx, &batch_reply);
  Stopwatch sw;
  const Clock::time_point start = Clock::now();
  for (uint64_t i = 0; i < total; ++i) {
    const Clock::time_point due =
        start +
        std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(i) * 1e9 / p.rate));
    std::this_thread::sleep_until(due);  // pacing the open-loop sender
    if (batch) {
      v1::WarmRequest req;
      req.set_url(BenchUrl(p, "lat", i));
      {
        std::lock_guard<std::mutex> lock(mu);
        // Timed from when it was due: a Write held back by flow control counts.
        Job& job = jobs[req.url()];
        job.replied = due;
        job.replied_wall = absl::Now() - absl::FromChrono(Clock::now() - due);
        ++replies;
      }
      if (!batch->Write(req)) break;
      std::lock_guard<std::mutex> lock(mu);
      settle(jobs[req.url()]);
      continue;
    }
    AsyncWarm(*stub, BenchUrl(p, "lat", i),
              [&](const grpc::Status& s, const v1::WarmReply& reply, Clock::time_point replied,
                  absl::Duration took) {
                std::lock_guard<std::mutex> lock(mu);
                ++replies;
                cv.notify_all();
                if (!s.ok()) {
                  if (first_error.ok()) first_error = FromGrpc(s, "Warm");
                  return;
                }
                call_ms.push_back(absl::ToDoubleMilliseconds(took));
                Job& job = jobs[reply.job_id()];
                job.replied = replied;
                job.replied_wall = absl::Now();
                settle(job);
              });
  }
  const absl::Duration send_wall = sw.wall();
  const absl::Duration send_cpu = sw.cpu();
  if (batch) {
    batch->WritesDone();
    if (absl::Status s = FromGrpc(batch->Finish(), "WarmBatch"); !s.ok()) return s;
    if (batch_reply.accepted() != total) {
      return absl::InternalError(
          absl::StrCat("WarmBatch accepted ", batch_reply.accepted(), " of ", total));
    }
  }
  std::unique_lock<std::mutex> lock(mu);
  const bool done = cv.wait_for(lock, absl::ToChronoNanoseconds(p.timeout), [&] {
    return replies == total && (complete == total || !first_error.ok());
  });
  if (!first_error.ok()) return first_error;
  if (!done) {
    return absl::DeadlineExceededError(
        absl::StrCat("latency: ", complete, " of ", total, " jobs warmed in every region in time"));
  }
  Report report("e2e-latency");
  report.Throughput(total, send_wall, send_cpu, "urls/s")
      .Add("intake", p.unary ? "unary" : "batch")
      .Add("target_rate", p.rate)
      .Add("regions", static_cast<double>(p.regions.size()))
      .Add("not_warmed", static_cast<double>(not_warmed))
      .Latencies("warmed", warmed_ms)
      .Latencies("outside_get", outside_get_ms)
      .Latencies("get", get_ms)
      .Latencies("observed", observed_ms)
      .Latencies("call", call_ms);
  lock.unlock();
  watcher->reset();
  report.Print();
  return absl::OkStatus();
}

}  // namespace cdnwarm::bench
