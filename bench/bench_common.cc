#include "bench/bench_common.h"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/client_callback.h"

namespace cdnwarm::bench {

common::KafkaProperties Params::Kafka() const {
  common::KafkaProperties props;
  props.Set("bootstrap.servers", bootstrap);
  return props;
}

absl::Duration ProcessCpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return absl::DurationFromTimeval(u.ru_utime) + absl::DurationFromTimeval(u.ru_stime);
}

void Stopwatch::Reset() {
  wall_start_ = std::chrono::steady_clock::now();
  cpu_start_ = ProcessCpu();
}

absl::Duration Stopwatch::wall() const {
  return absl::FromChrono(std::chrono::steady_clock::now() - wall_start_);
}

absl::Duration Stopwatch::cpu() const { return ProcessCpu() - cpu_start_; }

void Progress::Begin() {
  std::lock_guard<std::mutex> lock(mu_);
  if (begun_) return;
  begun_ = true;
  first_ = last_ = std::chrono::steady_clock::now();
  first_cpu_ = last_cpu_ = ProcessCpu();
}

void Progress::Add(uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  count_ += n;
  last_ = std::chrono::steady_clock::now();
  last_cpu_ = ProcessCpu();
  cv_.notify_all();
}

bool Progress::WaitFor(uint64_t target, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return count_ >= target; });
}

uint64_t Progress::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

absl::Duration Progress::window() const {
  std::lock_guard<std::mutex> lock(mu_);
  return absl::FromChrono(last_ - first_);
}

absl::Duration Progress::window_cpu() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_cpu_ - first_cpu_;
}

namespace {
std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}
}  // namespace

Report::Report(absl::string_view scenario) { Add("scenario", scenario); }

Report& Report::Add(absl::string_view key, double value) {
  fields_.emplace_back(key, std::isfinite(value) ? absl::StrFormat("%.6g", value) : "null");
  return *this;
}

Report& Report::Add(absl::string_view key, absl::string_view value) {
  fields_.emplace_back(key, JsonString(value));
  return *this;
}

Report& Report::Throughput(uint64_t count, absl::Duration wall, absl::Duration cpu,
                           absl::string_view unit) {
  const double seconds = absl::ToDoubleSeconds(wall);
  Add("count", static_cast<double>(count));
  Add("seconds", seconds);
  Add("rate", seconds > 0 ? static_cast<double>(count) / seconds : 0);
  Add("unit", unit);
  Add("lg_cpu_s", absl::ToDoubleSeconds(cpu));
  Add("lg_cpu_cores", seconds > 0 ? absl::ToDoubleSeconds(cpu) / seconds : 0);
  return *this;
}

Report& Report::Latencies(absl::string_view prefix, std::vector<double> milliseconds) {
  std::sort(milliseconds.begin(), milliseconds.end());
  Add(absl::StrCat(prefix, "_samples"), static_cast<double>(milliseconds.size()));
  if (milliseconds.empty()) return *this;
  Add(absl::StrCat(prefix, "_p50_ms"), Percentile(milliseconds, 0.5));
  Add(absl::StrCat(prefix, "_p99_ms"), Percentile(milliseconds, 0.99));
  Add(absl::StrCat(prefix, "_p999_ms"), Percentile(milliseconds, 0.999));
  Add(absl::StrCat(prefix, "_max_ms"), milliseconds.back());
  return *this;
}

void Report::Print() const {
  std::string line = "{";
  for (size_t i = 0; i < fields_.size(); ++i) {
    absl::StrAppend(&line, i == 0 ? "" : ", ", JsonString(fields_[i].first), ": ",
                    fields_[i].second);
  }
  std::cout << line << "}" << std::endl;
}

double Percentile(const std::vector<double>& sorted, double q) {
  const auto n = static_cast<double>(sorted.size());
  const auto rank = static_cast<size_t>(std::max(1.0, std::ceil(q * n)));
  return sorted[std::min(rank, sorted.size()) - 1];
}

std::string BenchUrl(const Params& p, absl::string_view part, uint64_t index) {
  return absl::StrCat(p.scheme, "://", p.url_host, "/bench/", p.run, "/", part, "/", index);
}

std::unique_ptr<v1::Producer::Stub> ProducerStub(const Params& p) {
  return v1::Producer::NewStub(grpc::CreateChannel(p.producer, grpc::InsecureChannelCredentials()));
}

void AsyncWarm(v1::Producer::Stub& stub, const std::string& url, WarmDone done) {
  // A reactor, deleted in OnDone: gRPC calls OnDone after its last use of the call, so the
  // completion that may end the run (and the process) comes after every bit of cleanup.
  // With a plain callback, gRPC still released the call after it returned, which raced
  // the exit: a warm-unary run aborted there once.
  class Call : public grpc::ClientUnaryReactor {
   public:
    Call(const std::string& url, WarmDone done) : done_(std::move(done)) { req.set_url(url); }
    void OnDone(const grpc::Status& s) override {
      const Clock::time_point now = Clock::now();
      WarmDone finish = std::move(done_);
      const v1::WarmReply answer = std::move(reply);
      const Clock::time_point started = sent;
      delete this;
      finish(s, answer, now, absl::FromChrono(now - started));
    }
    grpc::ClientContext ctx;
    v1::WarmRequest req;
    v1::WarmReply reply;
    Clock::time_point sent = Clock::now();

   private:
    WarmDone done_;
  };
  auto* call = new Call(url, std::move(done));
  stub.async()->Warm(&call->ctx, &call->req, &call->reply, call);
  call->StartCall();
}

absl::Status FromGrpc(const grpc::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

absl::Status ReadMemory(int pid, double* peak_mib, double* current_mib) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  if (!in) return absl::NotFoundError(absl::StrCat("no process ", pid));
  std::string key;
  *peak_mib = *current_mib = -1;
  while (in >> key) {
    double kib = 0;
    if (key == "VmHWM:" && in >> kib) *peak_mib = kib / 1024;
    if (key == "VmRSS:" && in >> kib) *current_mib = kib / 1024;
  }
  if (*peak_mib < 0 || *current_mib < 0) {
    return absl::InternalError(absl::StrCat("/proc/", pid, "/status has no VmHWM or VmRSS"));
  }
  return absl::OkStatus();
}

}  // namespace cdnwarm::bench
