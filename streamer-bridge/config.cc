#include "streamer-bridge/config.h"

#include <algorithm>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/core/bearer_auth.h"
#include "common/core/naming.h"

ABSL_FLAG(std::string, group_prefix, std::string(cdnwarm::common::kRegionGroupPrefix),
          "Prefix of the per-region consumer groups: <prefix>.<region>[-instance]");
ABSL_FLAG(int, max_attempts, 5, "Deliveries of a task before it goes to the dead-letter topic");
ABSL_FLAG(absl::Duration, min_backoff, absl::Seconds(1), "First redelivery backoff (doubles)");
ABSL_FLAG(absl::Duration, max_backoff, absl::Minutes(5), "Longest redelivery backoff");
ABSL_FLAG(absl::Duration, coalesce_window, absl::ZeroDuration(),
          "A URL and variant set warmed in a region within this window finishes as COALESCED; "
          "0 disables");
ABSL_FLAG(int, buffer_limit, 10000,
          "Tasks a region holds on this replica before its partitions are paused");
ABSL_FLAG(absl::Duration, idle_grace, absl::Seconds(10),
          "How long a region without subscribers keeps its group membership here");
ABSL_FLAG(int, max_credit, 10000, "Largest max_outstanding a subscriber may ask for");
ABSL_FLAG(std::string, auto_offset_reset, "latest",
          "Where a region's new group starts (no committed offsets): latest or earliest. A "
          "committed offset that retention deleted past resumes at the oldest retained task");
ABSL_FLAG(std::string, region_tokens_file, "",
          "File of 'region token' lines: subscribers of each region must send its bearer token. "
          "Empty: no authorisation");

ABSL_FLAG(std::string, control_topic, std::string(cdnwarm::common::kBridgeControlTopic),
          "Topic the bridge replicas coordinate on (Seek), on its partition 0; the instance suffix "
          "is appended");
ABSL_FLAG(absl::Duration, seek_timeout, absl::Seconds(30),
          "How long a Seek waits for every replica holding the region's partitions");

ABSL_FLAG(std::string, operator_token_file, "",
          "File holding the operators' bearer token: ListSubscriptions and Seek require it. "
          "Empty: those are open when --region_tokens_file is empty, refused otherwise");

namespace cdnwarm::bridge {

absl::StatusOr<std::map<std::string, std::string>> LoadRegionTokens(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--region_tokens_file: cannot read ", path));
  std::map<std::string, std::string> tokens;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const absl::string_view l = absl::StripAsciiWhitespace(line);
    if (l.empty() || l[0] == '#') continue;
    std::vector<std::string> parts = absl::StrSplit(l, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (parts.size() != 2 || !common::ValidateRegion(parts[0]).ok() || parts[1].size() < 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--region_tokens_file: line ", n, " is not 'region token' (token at least 16 bytes)"));
    }
    tokens[parts[0]] = parts[1];
  }
  return tokens;
}

absl::StatusOr<BridgeConfig> BridgeConfigFromFlags() {
  BridgeConfig c;
  if (absl::Status s = common::KafkaServiceConfigFromFlags(kServiceInfo, &c.common, &c.kafka);
      !s.ok()) {
    return s;
  }
  BridgeOptions& b = c.bridge;
  b.replica = c.common.replica_id;
  for (char& ch : b.replica) {
    if (ch == '.') ch = '_';  // ack ids use '.' as the separator
  }
  b.group_prefix = absl::GetFlag(FLAGS_group_prefix);
  b.instance = c.common.instance;
  b.consumer.kafka = c.kafka.properties;
  b.consumer.topic = c.kafka.requests_topic;
  b.consumer.auto_offset_reset = absl::GetFlag(FLAGS_auto_offset_reset);
  if (b.consumer.auto_offset_reset != "latest" && b.consumer.auto_offset_reset != "earliest") {
    return absl::InvalidArgumentError("--auto_offset_reset must be latest or earliest");
  }
  const int buffer = absl::GetFlag(FLAGS_buffer_limit);
  if (buffer < 1 || buffer > 10'000'000) {
    return absl::InvalidArgumentError("--buffer_limit must be between 1 and 10000000");
  }
  b.consumer.buffer_limit = static_cast<size_t>(buffer);
  // After the drain, leaving the groups and the last flush of results each wait for Kafka
  // up to this; it fits, with the drain, the pod's terminationGracePeriodSeconds.
  b.consumer.close_timeout = std::max(absl::Seconds(2), c.common.server.drain_timeout / 4);
  b.region.buffer_limit = static_cast<size_t>(buffer);
  b.region.max_attempts = absl::GetFlag(FLAGS_max_attempts);
  if (b.region.max_attempts < 1 || b.region.max_attempts > 100) {
    return absl::InvalidArgumentError("--max_attempts must be between 1 and 100");
  }
  b.region.min_backoff = absl::GetFlag(FLAGS_min_backoff);
  b.region.max_backoff = absl::GetFlag(FLAGS_max_backoff);
  if (b.region.min_backoff < absl::ZeroDuration() || b.region.max_backoff < b.region.min_backoff) {
    return absl::InvalidArgumentError("--min_backoff must be >= 0 and <= --max_backoff");
  }
  b.region.coalesce_window = absl::GetFlag(FLAGS_coalesce_window);
  b.idle_grace = absl::GetFlag(FLAGS_idle_grace);
  const int credit = absl::GetFlag(FLAGS_max_credit);
  if (credit < 1 || credit > 1'000'000) {
    return absl::InvalidArgumentError("--max_credit must be between 1 and 1000000");
  }
  b.max_credit = static_cast<uint32_t>(credit);
  if (const std::string f = absl::GetFlag(FLAGS_region_tokens_file); !f.empty()) {
    absl::StatusOr<std::map<std::string, std::string>> tokens = LoadRegionTokens(f);
    if (!tokens.ok()) return tokens.status();
    b.region_tokens = *std::move(tokens);
  }
  if (const std::string f = absl::GetFlag(FLAGS_operator_token_file); !f.empty()) {
    absl::StatusOr<common::BearerAuth> op = common::BearerAuth::FromFile(f);
    if (!op.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--operator_token_file: ", op.status().message()));
    }
    b.operator_auth = *std::move(op);
  }
  c.seek.control_topic =
      common::WithInstance(absl::GetFlag(FLAGS_control_topic), c.common.instance);
  if (absl::Status s = common::CheckTopic("control_topic", c.seek.control_topic); !s.ok()) {
    return s;
  }
  c.seek.requests_topic = c.kafka.requests_topic;
  c.seek.replica = b.replica;
  c.seek.timeout = absl::GetFlag(FLAGS_seek_timeout);
  if (c.seek.timeout < absl::Seconds(1) || c.seek.timeout > absl::Minutes(10)) {
    return absl::InvalidArgumentError("--seek_timeout must be between 1s and 10m");
  }
  return c;
}

}  // namespace cdnwarm::bridge
