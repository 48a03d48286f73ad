// Producer intake: WarmBatch and unary Warm against the running producer, and the baseline,
// a bare librdkafka produce loop of the same records with the producer's settings.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/scenarios.h"
#include "cdnwarm/v1/producer.grpc.pb.h"
#include "common/kafka/kafka_handles.h"
#include "grpcpp/client_context.h"
#include "producer/task_factory.h"
#include "producer/task_publisher.h"

namespace cdnwarm::bench {
namespace {

constexpr uint64_t kFlushEvery = 64;  // WarmBatch messages written per flush

struct DeliveryCounts {
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> failed{0};
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* counts = static_cast<DeliveryCounts*>(opaque);
  (m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? counts->ok : counts->failed).fetch_add(1);
}

}  // namespace

absl::Status ProduceBare(const Params& p) {
  producer::KafkaPublisherOptions options;
  options.kafka = p.Kafka();
  options.topic = p.topic;
  absl::StatusOr<common::KafkaConfPtr> conf =
      producer::PublisherProperties(options, producer::Lane::kBulk).ToConf();
  if (!conf.ok()) return conf.status();
  DeliveryCounts counts;
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &OnDelivery);
  rd_kafka_conf_set_opaque(conf->get(), &counts);
  char err[512] = {};
  common::KafkaPtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), err, sizeof(err)));
  if (!rk) return absl::InvalidArgumentError(absl::StrCat("Kafka producer: ", err));
  conf->release();

  const producer::TaskTemplate task_template;
  const std::string job = producer::NewJobId();
  Stopwatch sw;
  for (uint64_t i = 0; i < p.count; ++i) {
    const v1::WarmTask task = producer::MakeTask(task_template, job, static_cast<uint32_t>(i),
                                                 BenchUrl(p, "bare", i), absl::Now());
    const std::string value = task.SerializeAsString();
    for (;;) {
      common::KafkaErrorPtr e = common::ProduceCopy(rk.get(), p.topic, task.url(), value);
      if (!e) break;
      if (rd_kafka_error_code(e.get()) != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        return absl::UnavailableError(absl::StrCat("produce: ", rd_kafka_error_string(e.get())));
      }
      rd_kafka_poll(rk.get(), 1);
    }
    rd_kafka_poll(rk.get(), 0);
  }
  const absl::Time deadline = absl::Now() + p.timeout;
  while (counts.ok + counts.failed < p.count && absl::Now() < deadline) rd_kafka_poll(rk.get(), 50);
  const absl::Duration wall = sw.wall();
  if (counts.ok != p.count) {
    return absl::UnavailableError(absl::StrCat("bare produce: ", counts.ok.load(), " of ", p.count,
                                               " acknowledged, ", counts.failed.load(), " failed"));
  }
  Report("produce-bare").Throughput(p.count, wall, sw.cpu(), "records/s").Print();
  return absl::OkStatus();
}

absl::Status WarmBatch(const Params& p) {
  std::unique_ptr<v1::Producer::Stub> stub = ProducerStub(p);
  std::atomic<uint64_t> accepted{0};
  std::mutex mu;
  absl::Status first_error;
  std::vector<std::thread> streams;
  Stopwatch sw;
  for (int s = 0; s < p.streams; ++s) {
    streams.emplace_back([&, s] {
      grpc::ClientContext ctx;
      v1::WarmBatchReply reply;
      std::unique_ptr<grpc::ClientWriter<v1::WarmRequest>> writer = stub->WarmBatch(&ctx, &reply);
      v1::WarmRequest req;
      uint64_t messages = 0;
      for (uint64_t i = static_cast<uint64_t>(s); i < p.count;
           i += static_cast<uint64_t>(p.streams)) {
        if (p.per_message == 1) {
          req.set_url(BenchUrl(p, "batch", i));
        } else {
          req.add_urls(BenchUrl(p, "batch", i));
          if (req.urls_size() < p.per_message && i + static_cast<uint64_t>(p.streams) < p.count) {
            continue;
          }
        }
        // Let gRPC coalesce messages into fewer frames, flushing every kFlushEvery.
        grpc::WriteOptions options;
        if (++messages % kFlushEvery != 0) options.set_buffer_hint();
        if (!writer->Write(req, options)) break;
        req.clear_urls();
      }
      writer->WritesDone();
      absl::Status st = FromGrpc(writer->Finish(), "WarmBatch");
      accepted += reply.accepted();
      std::lock_guard<std::mutex> lock(mu);
      if (!st.ok() && first_error.ok()) first_error = st;
    });
  }
  for (std::thread& t : streams) t.join();
  const absl::Duration wall = sw.wall();
  if (!first_error.ok()) return first_error;
  if (accepted != p.count) {
    return absl::InternalError(
        absl::StrCat("WarmBatch accepted ", accepted.load(), " of ", p.count));
  }
  Report(p.per_message == 1 ? "warm-batch-single" : "warm-batch")
      .Throughput(p.count, wall, sw.cpu(), "urls/s")
      .Add("streams", p.streams)
      .Add("urls_per_message", p.per_message)
      .Print();
  return absl::OkStatus();
}

// Closed loop: `concurrency` unary Warm calls in flight until `duration` has passed.
absl::Status WarmUnary(const Params& p) {
  std::unique_ptr<v1::Producer::Stub> stub = ProducerStub(p);
  std::mutex mu;
  std::condition_variable cv;
  int active = 0;
  uint64_t next = 0;
  uint64_t ok = 0;
  absl::Status first_error;
  std::vector<double> latencies_ms;
  const Clock::time_point end = Clock::now() + absl::ToChronoNanoseconds(p.duration);

  std::function<void()> issue = [&] {
    std::string url;
    {
      std::lock_guard<std::mutex> lock(mu);
      url = BenchUrl(p, "unary", next++);
    }
    AsyncWarm(*stub, url,
              [&](const grpc::Status& s, const v1::WarmReply&, Clock::time_point replied,
                  absl::Duration took) {
                bool again = false;
                {
                  std::lock_guard<std::mutex> lock(mu);
                  if (s.ok()) {
                    ++ok;
                    latencies_ms.push_back(absl::ToDoubleMilliseconds(took));
                  } else if (first_error.ok()) {
                    first_error = FromGrpc(s, "Warm");
                  }
                  again = replied < end && first_error.ok();
                  if (!again && --active == 0) cv.notify_all();
                }
                if (again) issue();
              });
  };
  Stopwatch sw;
  {
    std::lock_guard<std::mutex> lock(mu);
    active = p.concurrency;
  }
  for (int i = 0; i < p.concurrency; ++i) issue();
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return active == 0; });
  if (!first_error.ok()) return first_error;
  Report("warm-unary")
      .Throughput(ok, sw.wall(), sw.cpu(), "calls/s")
      .Add("concurrency", p.concurrency)
      .Latencies("call", latencies_ms)
      .Print();
  return absl::OkStatus();
}

}  // namespace cdnwarm::bench
