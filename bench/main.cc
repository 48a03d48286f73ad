// cdnwarm-bench SCENARIO [flags]: one benchmark scenario, reported as one JSON line on
// stdout. bench/run.sh starts the broker, nginx and services and runs them all.

#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_join.h"
#include "bench/scenarios.h"

ABSL_FLAG(std::string, kafka_bootstrap, "", "Kafka bootstrap servers");
ABSL_FLAG(std::string, topic, "", "Requests topic of the instance under test");
ABSL_FLAG(std::string, results_topic, "", "Results topic of the instance under test");
ABSL_FLAG(std::string, producer, "", "Producer gRPC address");
ABSL_FLAG(std::string, bridge, "", "Streamer-bridge gRPC address");
ABSL_FLAG(std::string, edge_pin, "", "host:80:ip:port, where the warmer scenario connects");
ABSL_FLAG(std::string, url_host, "cdn.example.test", "Host of the URLs sent");
ABSL_FLAG(std::string, scheme, "http", "Scheme of the URLs sent: http, or https (HTTP/2)");
ABSL_FLAG(std::string, ca_file, "", "CA file the warmer scenario trusts");
ABSL_FLAG(std::string, run, "run", "Run id: URLs, consumer groups and jobs carry it");
ABSL_FLAG(std::vector<std::string>, regions, {}, "Regions");
ABSL_FLAG(uint64_t, count, 10000, "Records, URLs or deliveries per region");
ABSL_FLAG(int, concurrency, 32, "Calls or exchanges in flight; subscriber credit");
ABSL_FLAG(int, streams, 1, "WarmBatch streams at once");
ABSL_FLAG(
    int, per_message, 500,
    "URLs per WarmBatch message (1 sends each in url alone); deliveries per grpc-pump message");
ABSL_FLAG(int, subscribers, 2, "Subscribers per region");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "Length of timed scenarios");
ABSL_FLAG(absl::Duration, timeout, absl::Minutes(3), "Longest wait for a count");
ABSL_FLAG(double, rate, 0, "URLs per second of paced scenarios");
ABSL_FLAG(int, pid, 0, "Process whose memory bridge-backlog reports");
ABSL_FLAG(std::string, intake, "batch",
          "e2e-saturate and e2e-latency: the producer call URLs go in by, batch (one WarmBatch "
          "stream) or unary (Warm calls, --concurrency in flight when saturating)");

int main(int argc, char** argv) {
  using Scenario = std::function<absl::Status(const cdnwarm::bench::Params&)>;
  const std::map<std::string, Scenario> scenarios = {
      {"produce-bare", cdnwarm::bench::ProduceBare},
      {"warm-batch", cdnwarm::bench::WarmBatch},
      {"warm-unary", cdnwarm::bench::WarmUnary},
      {"fanout", cdnwarm::bench::Fanout},
      {"grpc-pump", cdnwarm::bench::GrpcPump},
      {"consume-bare", cdnwarm::bench::ConsumeBare},
      {"bridge-backlog", cdnwarm::bench::BacklogHold},
      {"warmer-get", cdnwarm::bench::WarmerGet},
      {"e2e-saturate", cdnwarm::bench::E2eSaturate},
      {"e2e-latency", cdnwarm::bench::E2eLatency},
  };
  std::vector<std::string> names;
  for (const auto& [name, run] : scenarios) names.push_back(name);
  absl::SetProgramUsageMessage("cdnwarm-bench SCENARIO [flags]; scenarios: " +
                               absl::StrJoin(names, ", "));
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2 || scenarios.count(args[1]) == 0) {
    std::cerr << "usage: cdnwarm-bench SCENARIO [flags]; scenarios: " << absl::StrJoin(names, ", ")
              << "\n";
    return 2;
  }
  cdnwarm::bench::Params p;
  p.bootstrap = absl::GetFlag(FLAGS_kafka_bootstrap);
  p.topic = absl::GetFlag(FLAGS_topic);
  p.results_topic = absl::GetFlag(FLAGS_results_topic);
  p.producer = absl::GetFlag(FLAGS_producer);
  p.bridge = absl::GetFlag(FLAGS_bridge);
  p.edge_pin = absl::GetFlag(FLAGS_edge_pin);
  p.url_host = absl::GetFlag(FLAGS_url_host);
  p.run = absl::GetFlag(FLAGS_run);
  p.scheme = absl::GetFlag(FLAGS_scheme);
  p.ca_file = absl::GetFlag(FLAGS_ca_file);
  p.regions = absl::GetFlag(FLAGS_regions);
  p.count = absl::GetFlag(FLAGS_count);
  p.concurrency = absl::GetFlag(FLAGS_concurrency);
  p.streams = absl::GetFlag(FLAGS_streams);
  p.per_message = absl::GetFlag(FLAGS_per_message);
  p.subscribers = absl::GetFlag(FLAGS_subscribers);
  p.duration = absl::GetFlag(FLAGS_duration);
  p.timeout = absl::GetFlag(FLAGS_timeout);
  p.rate = absl::GetFlag(FLAGS_rate);
  p.pid = absl::GetFlag(FLAGS_pid);
  p.unary = absl::GetFlag(FLAGS_intake) == "unary";
  if (absl::GetFlag(FLAGS_intake) != "unary" && absl::GetFlag(FLAGS_intake) != "batch") {
    std::cerr << "cdnwarm-bench: --intake is batch or unary, not \"" << absl::GetFlag(FLAGS_intake)
              << "\"\n";
    return 2;
  }
  if (p.concurrency < 1 || p.streams < 1 || p.subscribers < 1 || p.per_message < 1 ||
      p.per_message > 1000) {
    std::cerr << "cdnwarm-bench: --concurrency, --streams and --subscribers must be at least 1, "
                 "--per_message 1..1000\n";
    return 2;
  }
  if (args[1] == std::string("e2e-latency") && p.rate <= 0) {
    std::cerr << "cdnwarm-bench: e2e-latency needs --rate > 0\n";
    return 2;
  }
  const absl::Status s = scenarios.at(args[1])(p);
  if (!s.ok()) {
    std::cerr << "cdnwarm-bench " << args[1] << ": " << s << "\n";
    return 1;
  }
  return 0;
}
