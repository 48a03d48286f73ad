#pragma once

// Settings every cdnwarm service shares, parsed from command-line flags into a plain
// struct. Only each service's config.cc calls the flag functions; library code takes
// the struct. The Kafka side's settings (producer, streamer-bridge) are in
// common/kafka/kafka_flags.h, so a service without Kafka (the warmer) has no Kafka flags.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/core/log.h"
#include "common/core/server_runner.h"

namespace cdnwarm::common {

// What a service is called and where it listens unless told otherwise (port table).
struct ServiceInfo {
  absl::string_view name;
  int default_grpc_port = 0;
  int default_admin_port = 0;
  absl::string_view description;
};

struct CommonConfig {
  std::string service;
  // Identifies this replica in logs, metrics, results and Kafka client ids.
  std::string replica_id;
  // Instance suffix for topics and groups; empty for none.
  std::string instance;
  ServerOptions server;
  log::Level log_level = log::Level::kInfo;
};

// Parses argv (absl flags). --help lists the service's own and the shared flags with their
// defaults, grouped by the file that defines them; --version prints VersionLine. Exits
// with one line naming the problem on an unknown flag, a bad value or a stray argument.
void ParseFlags(int argc, char** argv, const ServiceInfo& info);

// "<program> (cdnwarm) <version>, commit <git commit>".
std::string VersionLine(absl::string_view program);

// The shared settings from the parsed flags; errors name the flag and the problem.
absl::StatusOr<CommonConfig> CommonConfigFromFlags(const ServiceInfo& info);

// Applies the logging settings of `config` process-wide.
void ApplyLogging(const CommonConfig& config);

}  // namespace cdnwarm::common
