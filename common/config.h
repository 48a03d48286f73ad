#pragma once

// Settings every cdnwarm service shares, parsed from command-line flags into a plain
// struct. Only each service's config.cc calls the flag functions; library code takes
// the struct.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/kafka_config.h"
#include "common/log.h"
#include "common/server_runner.h"

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
  // librdkafka properties: --kafka_properties file, then --kafka_bootstrap, then each
  // --kafka_property, later ones winning.
  KafkaProperties kafka;
  // Topic names with the instance suffix applied.
  std::string requests_topic;
  std::string results_topic;
  std::string dead_letter_topic;
  // Whether a service creates missing topics at start-up, and with how many partitions.
  bool create_topics = true;
  int topic_partitions = 6;
  // The deployment's regions (--regions); empty when not configured.
  std::vector<std::string> regions;
};

// Parses argv (absl flags). --help lists the service's own and the shared flags with their
// defaults, grouped by the file that defines them; --version prints VersionLine. Exits
// with one line naming the problem on an unknown flag, a bad value or a stray argument.
void ParseFlags(int argc, char** argv, const ServiceInfo& info);

// "<program> (cdnwarm) <version>, commit <git commit>".
std::string VersionLine(absl::string_view program);

// The shared settings from the parsed flags; errors name the flag and the problem.
absl::StatusOr<CommonConfig> CommonConfigFromFlags(const ServiceInfo& info);

// A Kafka topic name (1..249 of [a-zA-Z0-9._-]); the error names --`flag`.
absl::Status CheckTopic(absl::string_view flag, absl::string_view topic);

// Applies the logging settings of `config` process-wide.
void ApplyLogging(const CommonConfig& config);

}  // namespace cdnwarm::common
