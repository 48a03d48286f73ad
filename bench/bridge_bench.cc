// Bridge fan-out: acked deliveries/s through the streamer-bridge to every region's
// subscribers, against two baselines on the same machine: a bare gRPC server-streaming pump
// of the same payload and bare librdkafka consumers of the same topic. Also the bridge's
// memory while it holds a backlog no subscriber acks.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/scenarios.h"
#include "cdnwarm/v1/bridge.grpc.pb.h"
#include "common/core/proto_time.h"
#include "common/kafka/kafka_handles.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "producer/task_factory.h"
#include "streamer-bridge/region_consumer.h"

namespace cdnwarm::bench {
namespace {

constexpr uint64_t kProgressBatch = 256;
constexpr int kMaxAckEntries = 1000;  // the Ack RPC's limit

std::unique_ptr<v1::Bridge::Stub> BridgeStub(const std::string& address) {
  return v1::Bridge::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

// One SubscribeBatched stream on its own channel, as one warmer replica holds it. A reader
// thread takes deliveries; an acker thread answers them WARMED in batches of up to 1000 ids,
// so acks flow while deliveries arrive. With `ack` false nothing is answered (a stuck
// warmer).
class Subscriber {
 public:
  Subscriber(const Params& p, std::string region, std::string id, bool ack, Progress& progress)
      : stub_(BridgeStub(p.bridge)), id_(std::move(id)), progress_(progress) {
    v1::SubscribeRequest req;
    req.set_region(std::move(region));
    req.set_subscriber_id(id_);
    req.set_max_outstanding(static_cast<uint32_t>(p.concurrency));
    reader_ = std::thread([this, req] { Read(req); });
    if (ack) acker_ = std::thread([this] { AckLoop(); });
  }
  ~Subscriber() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    ctx_.TryCancel();
    reader_.join();
    if (acker_.joinable()) acker_.join();
  }
  absl::Status error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }
  // Stream messages read, and the deliveries in them.
  uint64_t messages() const { return messages_.load(); }
  uint64_t deliveries() const { return deliveries_.load(); }

 private:
  void Read(const v1::SubscribeRequest& req) {
    std::unique_ptr<grpc::ClientReader<v1::DeliveryBatch>> reader =
        stub_->SubscribeBatched(&ctx_, req);
    v1::DeliveryBatch batch;
    while (reader->Read(&batch)) {
      progress_.Begin();
      ++messages_;
      deliveries_ += static_cast<uint64_t>(batch.deliveries_size());
      std::lock_guard<std::mutex> lock(mu_);
      for (v1::Delivery& d : *batch.mutable_deliveries()) {
        pending_.push_back(std::move(*d.mutable_ack_id()));
      }
      cv_.notify_all();
    }
    grpc::Status s = reader->Finish();
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_ && error_.ok()) error_ = FromGrpc(s, "Subscribe");
  }

  void AckLoop() {
    std::vector<std::string> batch;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
        if (stopping_) return;
        const size_t n = std::min(pending_.size(), static_cast<size_t>(kMaxAckEntries));
        batch.assign(std::make_move_iterator(pending_.begin()),
                     std::make_move_iterator(pending_.begin() + static_cast<std::ptrdiff_t>(n)));
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
      }
      v1::AckRequest req;
      req.set_subscriber_id(id_);
      for (std::string& ack_id : batch) {
        v1::AckEntry* e = req.add_entries();
        e->set_ack_id(std::move(ack_id));
        e->set_outcome(v1::ACK_OUTCOME_WARMED);
        e->mutable_result()->set_http_status(200);
        e->mutable_result()->set_cache_before(v1::CACHE_STATUS_HIT);
      }
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      v1::AckReply reply;
      absl::Status s = FromGrpc(stub_->Ack(&ctx, req, &reply), "Ack");
      uint64_t ok = 0;
      for (int status : reply.statuses()) ok += status == v1::ACK_STATUS_OK ? 1 : 0;
      progress_.Add(ok);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        if (error_.ok()) error_ = s;
      }
    }
  }

  std::unique_ptr<v1::Bridge::Stub> stub_;
  const std::string id_;
  Progress& progress_;
  grpc::ClientContext ctx_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> pending_;
  std::atomic<uint64_t> messages_{0};
  std::atomic<uint64_t> deliveries_{0};
  bool stopping_ = false;
  absl::Status error_;
  std::thread reader_;
  std::thread acker_;
};

std::vector<std::unique_ptr<Subscriber>> Subscribe(const Params& p, int per_region, bool ack,
                                                   Progress& progress) {
  std::vector<std::unique_ptr<Subscriber>> subs;
  for (const std::string& region : p.regions) {
    for (int k = 0; k < per_region; ++k) {
      subs.push_back(std::make_unique<Subscriber>(p, region, absl::StrCat("bench-", region, "-", k),
                                                  ack, progress));
    }
  }
  return subs;
}

absl::Status FirstError(const std::vector<std::unique_ptr<Subscriber>>& subs) {
  for (const auto& s : subs) {
    if (!s->error().ok()) return s->error();
  }
  return absl::OkStatus();
}

// A delivery like the bridge's: a task as the producer makes it, an ack id, a deadline.
v1::Delivery SampleDelivery(const Params& p) {
  v1::Delivery d;
  d.set_ack_id("r.us-east.3.1048576.1.bench-replica");
  *d.mutable_task() = producer::MakeTask(producer::TaskTemplate{}, producer::NewJobId(), 1234,
                                         BenchUrl(p, "pump", 1234), absl::Now());
  d.set_delivery_attempt(1);
  *d.mutable_deadline() = common::ToProtoTimestamp(absl::Now() + absl::Seconds(60));
  return d;
}

// Streams `count` copies of one message (a batch of deliveries), one write in flight at a
// time.
class PumpWriter final : public grpc::ServerWriteReactor<v1::DeliveryBatch> {
 public:
  PumpWriter(const v1::DeliveryBatch& batch, uint64_t count) : batch_(batch), left_(count) {
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (ok) {
      Next();
    } else {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
    }
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (left_ == 0) {
      Finish(grpc::Status::OK);
      return;
    }
    --left_;
    StartWrite(&batch_);
  }
  const v1::DeliveryBatch& batch_;
  uint64_t left_;
};

class PumpService final : public v1::Bridge::CallbackService {
 public:
  PumpService(v1::DeliveryBatch batch, uint64_t per_stream)
      : batch_(std::move(batch)), per_stream_(per_stream) {}
  grpc::ServerWriteReactor<v1::DeliveryBatch>* SubscribeBatched(
      grpc::CallbackServerContext*, const v1::SubscribeRequest*) override {
    return new PumpWriter(batch_, per_stream_);
  }

 private:
  const v1::DeliveryBatch batch_;
  const uint64_t per_stream_;
};

}  // namespace

absl::Status Fanout(const Params& p) {
  const uint64_t target = p.count * p.regions.size();
  Progress progress;
  std::vector<std::unique_ptr<Subscriber>> subs = Subscribe(p, p.subscribers, true, progress);
  const bool done = progress.WaitFor(target, p.timeout);
  if (absl::Status s = FirstError(subs); !s.ok()) return s;
  if (!done) {
    return absl::DeadlineExceededError(
        absl::StrCat("fan-out: ", progress.count(), " of ", target, " deliveries acked in time"));
  }
  uint64_t messages = 0, deliveries = 0;
  for (const auto& s : subs) {
    messages += s->messages();
    deliveries += s->deliveries();
  }
  subs.clear();
  Report("fanout")
      .Throughput(progress.count(), progress.window(), progress.window_cpu(), "deliveries/s")
      .Add("deliveries_per_message",
           messages == 0 ? 0.0 : static_cast<double>(deliveries) / static_cast<double>(messages))
      .Add("regions", static_cast<double>(p.regions.size()))
      .Add("subscribers_per_region", p.subscribers)
      .Add("credit", p.concurrency)
      .Print();
  return absl::OkStatus();
}

absl::Status GrpcPump(const Params& p) {
  const uint64_t streams = p.regions.size() * static_cast<uint64_t>(p.subscribers);
  // Messages of per_message deliveries each, as many deliveries in all as the fan-out made.
  const uint64_t per_message = static_cast<uint64_t>(p.per_message);
  const uint64_t per_stream = p.count * p.regions.size() / streams / per_message;
  v1::DeliveryBatch batch;
  for (uint64_t i = 0; i < per_message; ++i) *batch.add_deliveries() = SampleDelivery(p);
  PumpService service(batch, per_stream);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) return absl::UnavailableError("pump: server did not start");

  Progress progress;
  std::vector<std::thread> readers;
  std::mutex mu;
  absl::Status first_error;
  for (uint64_t s = 0; s < streams; ++s) {
    readers.emplace_back([&, s] {
      std::unique_ptr<v1::Bridge::Stub> stub = BridgeStub(absl::StrCat("127.0.0.1:", port));
      grpc::ClientContext ctx;
      v1::SubscribeRequest req;
      req.set_subscriber_id(absl::StrCat("pump-", s));
      std::unique_ptr<grpc::ClientReader<v1::DeliveryBatch>> reader =
          stub->SubscribeBatched(&ctx, req);
      v1::DeliveryBatch got;
      uint64_t unreported = 0;
      while (reader->Read(&got)) {
        progress.Begin();
        unreported += static_cast<uint64_t>(got.deliveries_size());
        if (unreported >= kProgressBatch) {
          progress.Add(unreported);
          unreported = 0;
        }
      }
      progress.Add(unreported);
      absl::Status st = FromGrpc(reader->Finish(), "pump Subscribe");
      std::lock_guard<std::mutex> lock(mu);
      if (!st.ok() && first_error.ok()) first_error = st;
    });
  }
  for (std::thread& t : readers) t.join();
  server->Shutdown();
  if (!first_error.ok()) return first_error;
  Report("grpc-pump")
      .Throughput(progress.count(), progress.window(), progress.window_cpu(), "deliveries/s")
      .Add("streams", static_cast<double>(streams))
      .Add("deliveries_per_message", static_cast<double>(per_message))
      .Add("payload_bytes", static_cast<double>(SampleDelivery(p).ByteSizeLong()))
      .Print();
  return absl::OkStatus();
}

absl::Status ConsumeBare(const Params& p) {
  Progress progress;
  std::vector<std::thread> consumers;
  std::mutex mu;
  absl::Status first_error;
  auto fail = [&](absl::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    if (first_error.ok()) first_error = std::move(s);
  };
  for (size_t g = 0; g < p.regions.size(); ++g) {
    consumers.emplace_back([&, g] {
      bridge::ConsumerOptions options;
      options.kafka = p.Kafka();
      options.topic = p.topic;
      options.group = absl::StrCat("bench-bare-", p.run, "-", p.regions[g]);
      options.auto_offset_reset = "earliest";
      absl::StatusOr<common::KafkaConfPtr> conf = bridge::ConsumerProperties(options).ToConf();
      if (!conf.ok()) return fail(conf.status());
      char err[512] = {};
      common::KafkaPtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), err, sizeof(err)));
      if (!rk) return fail(absl::InvalidArgumentError(absl::StrCat("Kafka consumer: ", err)));
      conf->release();
      rd_kafka_poll_set_consumer(rk.get());
      common::KafkaTopicPartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
      rd_kafka_topic_partition_list_add(topics.get(), p.topic.c_str(), RD_KAFKA_PARTITION_UA);
      rd_kafka_subscribe(rk.get(), topics.get());
      const absl::Time deadline = absl::Now() + p.timeout;
      uint64_t got = 0, unreported = 0;
      v1::WarmTask task;
      while (got < p.count && absl::Now() < deadline) {
        common::KafkaMessagePtr m(rd_kafka_consumer_poll(rk.get(), 100));
        if (!m || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          fail(absl::UnavailableError(absl::StrCat("consume: ", rd_kafka_message_errstr(m.get()))));
          break;
        }
        if (!task.ParseFromArray(m->payload, static_cast<int>(m->len))) {
          fail(absl::DataLossError("consume: a record is not a WarmTask"));
          break;
        }
        progress.Begin();
        ++got;
        if (++unreported == kProgressBatch) {
          progress.Add(unreported);
          unreported = 0;
        }
      }
      progress.Add(unreported);
      rd_kafka_consumer_close(rk.get());
      if (got < p.count)
        fail(absl::DeadlineExceededError(absl::StrCat("consume: ", got, " of ", p.count)));
    });
  }
  for (std::thread& t : consumers) t.join();
  if (!first_error.ok()) return first_error;
  Report("consume-bare")
      .Throughput(progress.count(), progress.window(), progress.window_cpu(), "records/s")
      .Add("groups", static_cast<double>(p.regions.size()))
      .Print();
  return absl::OkStatus();
}

// One subscriber per region that never acks; once the bridge's buffers and outstanding
// counts have stopped moving, the bridge process's resident memory is read.
absl::Status BacklogHold(const Params& p) {
  Progress progress;
  std::vector<std::unique_ptr<Subscriber>> subs = Subscribe(p, 1, false, progress);
  std::unique_ptr<v1::Bridge::Stub> stub = BridgeStub(p.bridge);
  std::map<std::string, std::pair<uint64_t, uint64_t>> last;
  int unchanged = 0;
  uint64_t buffered = 0, outstanding = 0;
  const absl::Time deadline = absl::Now() + p.timeout;
  while (unchanged < 10) {
    if (absl::Now() > deadline)
      return absl::DeadlineExceededError("backlog: buffers never settled");
    if (absl::Status s = FirstError(subs); !s.ok()) return s;
    absl::SleepFor(absl::Milliseconds(200));  // sampling interval, not synchronisation
    grpc::ClientContext ctx;
    v1::ListSubscriptionsReply reply;
    if (absl::Status s = FromGrpc(stub->ListSubscriptions(&ctx, {}, &reply), "ListSubscriptions");
        !s.ok()) {
      return s;
    }
    std::map<std::string, std::pair<uint64_t, uint64_t>> now;
    buffered = outstanding = 0;
    for (const v1::RegionInfo& r : reply.regions()) {
      now[r.region()] = {r.buffered(), r.outstanding()};
      buffered += r.buffered();
      outstanding += r.outstanding();
    }
    const bool settled = now == last && now.size() == p.regions.size() && outstanding > 0;
    unchanged = settled ? unchanged + 1 : 0;
    last = std::move(now);
  }
  double peak = 0, current = 0;
  if (absl::Status s = ReadMemory(p.pid, &peak, &current); !s.ok()) return s;
  Report("bridge-backlog")
      .Add("backlog_tasks", static_cast<double>(p.count))
      .Add("regions", static_cast<double>(p.regions.size()))
      .Add("buffered", static_cast<double>(buffered))
      .Add("outstanding", static_cast<double>(outstanding))
      .Add("peak_rss_mib", peak)
      .Add("rss_mib", current)
      .Print();
  return absl::OkStatus();
}

}  // namespace cdnwarm::bench
