#pragma once

// What every benchmark scenario shares: the parameters it is given, a wall and CPU
// stopwatch, the JSON line it reports, percentiles, and the URLs it sends.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cdnwarm/v1/producer.grpc.pb.h"
#include "common/kafka/kafka_config.h"
#include "grpcpp/support/status.h"

namespace cdnwarm::bench {

using Clock = std::chrono::steady_clock;

struct Params {
  std::string bootstrap;      // Kafka
  std::string topic;          // the requests topic of the instance under test
  std::string results_topic;  // its results topic
  std::string producer;       // producer gRPC address
  std::string bridge;         // streamer-bridge gRPC address
  std::string edge_pin;       // "host:80:ip:port" (CURLOPT_CONNECT_TO) for the warmer scenario
  std::string url_host = "cdn.example.test";
  std::string scheme = "http";  // of the URLs sent; https makes the warmer use HTTP/2
  std::string ca_file;          // CAs the warmer scenario trusts (a test CA for a TLS edge)
  std::string run = "run";      // unique per run: URLs, groups and jobs carry it
  std::vector<std::string> regions;
  uint64_t count = 10000;
  int concurrency = 32;
  int streams = 1;
  int per_message = 500;  // URLs per WarmBatch message (WarmRequest.urls), 1 = url only;
                          // deliveries per grpc-pump message
  int subscribers = 2;    // per region
  absl::Duration duration = absl::Seconds(10);
  absl::Duration timeout = absl::Minutes(3);  // for anything that waits for a count
  double rate = 0;                            // per second, paced scenarios
  int pid = 0;                                // the process whose memory a scenario reports
  bool unary = false;  // e2e: URLs go in by unary Warm calls, not one WarmBatch stream

  // bootstrap.servers set, nothing else.
  common::KafkaProperties Kafka() const;
};

// Wall time on the steady clock and this process's CPU time (user + system, all threads).
class Stopwatch {
 public:
  Stopwatch() { Reset(); }
  void Reset();
  absl::Duration wall() const;
  absl::Duration cpu() const;

 private:
  std::chrono::steady_clock::time_point wall_start_;
  absl::Duration cpu_start_;
};

absl::Duration ProcessCpu();

// Completed work counted from many threads. The measured window runs from the first
// Begin() to the last Add(), so set-up (connections, group joins) is not in the rate.
class Progress {
 public:
  void Begin();  // the first call marks the window's start; later calls do nothing
  void Add(uint64_t n);
  // Until count() >= target; false when `timeout` passed first.
  bool WaitFor(uint64_t target, absl::Duration timeout);
  uint64_t count() const;
  absl::Duration window() const;      // first Begin() to last Add()
  absl::Duration window_cpu() const;  // this process's CPU over the same window

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool begun_ = false;
  uint64_t count_ = 0;
  std::chrono::steady_clock::time_point first_, last_;
  absl::Duration first_cpu_, last_cpu_;
};

// One scenario's result, printed as one JSON line on stdout for bench/report.py.
class Report {
 public:
  explicit Report(absl::string_view scenario);
  Report& Add(absl::string_view key, double value);
  Report& Add(absl::string_view key, absl::string_view value);
  // count, seconds, rate (count per second) in `unit`, and the load generator's CPU: seconds
  // and cores (CPU seconds per wall second) over `cpu` and `wall`.
  Report& Throughput(uint64_t count, absl::Duration wall, absl::Duration cpu,
                     absl::string_view unit);
  // `<prefix>_p50_ms`, _p99_ms, _p999_ms, _max_ms and `<prefix>_samples`.
  Report& Latencies(absl::string_view prefix, std::vector<double> milliseconds);
  void Print() const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;  // values already JSON
};

// q in [0, 1] of `sorted` (ascending, non-empty), nearest rank.
double Percentile(const std::vector<double>& sorted, double q);

// <scheme>://<host>/bench/<run>/<part>/<index>: unique per run, part and index.
std::string BenchUrl(const Params& p, absl::string_view part, uint64_t index);

// A Producer stub on its own channel to `p.producer`.
std::unique_ptr<v1::Producer::Stub> ProducerStub(const Params& p);

// One asynchronous unary Warm of `url`. `done` runs once, on a gRPC thread, with the status,
// the reply, when the reply arrived and how long the call took.
using WarmDone = std::function<void(const grpc::Status&, const v1::WarmReply&,
                                    Clock::time_point replied, absl::Duration took)>;
void AsyncWarm(v1::Producer::Stub& stub, const std::string& url, WarmDone done);

// OK, or the gRPC error with `what` in front.
absl::Status FromGrpc(const grpc::Status& s, absl::string_view what);

// Peak and current resident memory of `pid` (VmHWM, VmRSS) in MiB.
absl::Status ReadMemory(int pid, double* peak_mib, double* current_mib);

}  // namespace cdnwarm::bench
