// The streamer-bridge's flags: BridgeConfigFromFlags maps each flag to its setting (and the
// seek settings to the shared ones) and refuses bad values with an error naming the flag;
// LoadRegionTokens reads the --region_tokens_file lines.

#include "streamer-bridge/config.h"

#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_DECLARE_FLAG(std::string, replica_id);
ABSL_DECLARE_FLAG(std::string, instance);
ABSL_DECLARE_FLAG(std::string, kafka_bootstrap);
ABSL_DECLARE_FLAG(std::string, requests_topic);
ABSL_DECLARE_FLAG(std::string, group_prefix);
ABSL_DECLARE_FLAG(int, max_attempts);
ABSL_DECLARE_FLAG(absl::Duration, min_backoff);
ABSL_DECLARE_FLAG(absl::Duration, max_backoff);
ABSL_DECLARE_FLAG(absl::Duration, coalesce_window);
ABSL_DECLARE_FLAG(int, buffer_limit);
ABSL_DECLARE_FLAG(absl::Duration, idle_grace);
ABSL_DECLARE_FLAG(int, max_credit);
ABSL_DECLARE_FLAG(std::string, auto_offset_reset);
ABSL_DECLARE_FLAG(std::string, region_tokens_file);
ABSL_DECLARE_FLAG(std::string, control_topic);
ABSL_DECLARE_FLAG(absl::Duration, seek_timeout);
ABSL_DECLARE_FLAG(std::string, operator_token_file);

namespace cdnwarm::bridge {
namespace {

using ::testing::HasSubstr;

// The error BridgeConfigFromFlags gives with the flags as they are now.
std::string ConfigError() {
  absl::StatusOr<BridgeConfig> c = BridgeConfigFromFlags();
  return c.ok() ? "(no error)" : std::string(c.status().message());
}

// A file under the test's temporary directory holding `text`; its path.
std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/", absl::ToUnixNanos(absl::Now()), "-", name);
  std::ofstream(path) << text;
  return path;
}

TEST(BridgeConfigTest, EachFlagReachesItsSetting) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_replica_id, "bridge-7");
  absl::SetFlag(&FLAGS_kafka_bootstrap, "kafka-a:9092");
  absl::SetFlag(&FLAGS_requests_topic, "tasks");
  absl::SetFlag(&FLAGS_group_prefix, "acme.bridge");
  absl::SetFlag(&FLAGS_max_attempts, 7);
  absl::SetFlag(&FLAGS_min_backoff, absl::Seconds(2));
  absl::SetFlag(&FLAGS_max_backoff, absl::Minutes(3));
  absl::SetFlag(&FLAGS_coalesce_window, absl::Seconds(45));
  absl::SetFlag(&FLAGS_buffer_limit, 321);
  absl::SetFlag(&FLAGS_idle_grace, absl::Seconds(33));
  absl::SetFlag(&FLAGS_max_credit, 77);
  absl::SetFlag(&FLAGS_auto_offset_reset, "earliest");
  absl::SetFlag(&FLAGS_control_topic, "ctl");
  absl::SetFlag(&FLAGS_seek_timeout, absl::Seconds(12));

  absl::StatusOr<BridgeConfig> c = BridgeConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  const BridgeOptions& b = c->bridge;
  EXPECT_EQ(b.replica, "bridge-7");
  EXPECT_EQ(b.group_prefix, "acme.bridge");
  EXPECT_EQ(b.instance, "");
  EXPECT_EQ(b.consumer.topic, "tasks");
  EXPECT_EQ(b.consumer.auto_offset_reset, "earliest");
  ASSERT_NE(b.consumer.kafka.Find("bootstrap.servers"), nullptr);
  EXPECT_EQ(*b.consumer.kafka.Find("bootstrap.servers"), "kafka-a:9092");
  EXPECT_EQ(b.consumer.buffer_limit, 321u);
  EXPECT_EQ(b.region.buffer_limit, 321u);
  EXPECT_EQ(b.region.max_attempts, 7);
  EXPECT_EQ(b.region.min_backoff, absl::Seconds(2));
  EXPECT_EQ(b.region.max_backoff, absl::Minutes(3));
  EXPECT_EQ(b.region.coalesce_window, absl::Seconds(45));
  EXPECT_EQ(b.idle_grace, absl::Seconds(33));
  EXPECT_EQ(b.max_credit, 77u);
  EXPECT_TRUE(b.region_tokens.empty());
  EXPECT_FALSE(b.operator_auth.enabled());
  EXPECT_EQ(c->seek.control_topic, "ctl");
  EXPECT_EQ(c->seek.requests_topic, "tasks");
  EXPECT_EQ(c->seek.replica, "bridge-7");
  EXPECT_EQ(c->seek.timeout, absl::Seconds(12));
}

TEST(BridgeConfigTest, DefaultsAreTheDocumentedOnes) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_replica_id, "b1");
  absl::StatusOr<BridgeConfig> c = BridgeConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bridge.group_prefix, "cdnwarm.bridge");
  EXPECT_EQ(c->bridge.consumer.auto_offset_reset, "latest");
  EXPECT_EQ(c->bridge.consumer.topic, "warm.requests");
  EXPECT_EQ(c->bridge.consumer.buffer_limit, 10000u);
  EXPECT_EQ(c->bridge.region.max_attempts, 5);
  EXPECT_EQ(c->bridge.region.coalesce_window, absl::ZeroDuration());
  EXPECT_EQ(c->bridge.max_credit, 10000u);
  EXPECT_EQ(c->seek.control_topic, "warm.bridge-control");
  EXPECT_EQ(c->seek.timeout, absl::Seconds(30));
  EXPECT_EQ(c->seek.start_timeout, absl::Seconds(15));
}

// Ack ids use '.' between their parts, so a replica id (often a host name) has none.
TEST(BridgeConfigTest, DotsInTheReplicaIdBecomeUnderscoresInAckIdsAndSeeks) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_replica_id, "pod.ns.svc");
  absl::StatusOr<BridgeConfig> c = BridgeConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bridge.replica, "pod_ns_svc");
  EXPECT_EQ(c->seek.replica, "pod_ns_svc");
}

TEST(BridgeConfigTest, TheInstanceSuffixesTheControlTopicAndNamesTheGroups) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_replica_id, "b1");
  absl::SetFlag(&FLAGS_instance, "blue");
  absl::StatusOr<BridgeConfig> c = BridgeConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->seek.control_topic, "warm.bridge-control-blue");
  EXPECT_EQ(c->seek.requests_topic, "warm.requests-blue");
  EXPECT_EQ(c->bridge.consumer.topic, "warm.requests-blue");
  EXPECT_EQ(c->bridge.instance, "blue");
}

TEST(BridgeConfigTest, OutOfRangeValuesAreRefusedNamingTheFlag) {
  struct Case {
    std::function<void()> set;
    std::string flag;
  };
  const std::vector<Case> cases = {
      {[] { absl::SetFlag(&FLAGS_auto_offset_reset, "middle"); }, "--auto_offset_reset"},
      {[] { absl::SetFlag(&FLAGS_buffer_limit, 0); }, "--buffer_limit"},
      {[] { absl::SetFlag(&FLAGS_buffer_limit, 10'000'001); }, "--buffer_limit"},
      {[] { absl::SetFlag(&FLAGS_max_attempts, 0); }, "--max_attempts"},
      {[] { absl::SetFlag(&FLAGS_max_attempts, 101); }, "--max_attempts"},
      {[] { absl::SetFlag(&FLAGS_min_backoff, absl::Seconds(-1)); }, "--min_backoff"},
      {[] {
         absl::SetFlag(&FLAGS_min_backoff, absl::Seconds(10));
         absl::SetFlag(&FLAGS_max_backoff, absl::Seconds(9));
       },
       "--max_backoff"},
      {[] { absl::SetFlag(&FLAGS_max_credit, 0); }, "--max_credit"},
      {[] { absl::SetFlag(&FLAGS_max_credit, 1'000'001); }, "--max_credit"},
      {[] { absl::SetFlag(&FLAGS_seek_timeout, absl::Milliseconds(999)); }, "--seek_timeout"},
      {[] { absl::SetFlag(&FLAGS_seek_timeout, absl::Minutes(10) + absl::Seconds(1)); },
       "--seek_timeout"},
      {[] { absl::SetFlag(&FLAGS_control_topic, "bad topic!"); }, "--control_topic"},
      {[] { absl::SetFlag(&FLAGS_control_topic, ""); }, "--control_topic"},
      // The shared flags' errors come through as they are.
      {[] { absl::SetFlag(&FLAGS_instance, "Blue"); }, "--instance"},
      {[] { absl::SetFlag(&FLAGS_requests_topic, "a/b"); }, "--requests_topic"},
  };
  for (const Case& c : cases) {
    absl::FlagSaver saver;
    absl::SetFlag(&FLAGS_replica_id, "b1");
    c.set();
    absl::StatusOr<BridgeConfig> got = BridgeConfigFromFlags();
    ASSERT_FALSE(got.ok()) << c.flag << " was accepted";
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << got.status();
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(c.flag));
  }
}

TEST(BridgeConfigTest, TheBoundsThemselvesAreAccepted) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_replica_id, "b1");
  for (int buffer : {1, 10'000'000}) {
    absl::SetFlag(&FLAGS_buffer_limit, buffer);
    EXPECT_EQ(ConfigError(), "(no error)") << "--buffer_limit=" << buffer;
  }
  for (int attempts : {1, 100}) {
    absl::SetFlag(&FLAGS_max_attempts, attempts);
    EXPECT_EQ(ConfigError(), "(no error)") << "--max_attempts=" << attempts;
  }
  for (int credit : {1, 1'000'000}) {
    absl::SetFlag(&FLAGS_max_credit, credit);
    EXPECT_EQ(ConfigError(), "(no error)") << "--max_credit=" << credit;
  }
  for (absl::Duration t : {absl::Seconds(1), absl::Minutes(10)}) {
    absl::SetFlag(&FLAGS_seek_timeout, t);
    EXPECT_EQ(ConfigError(), "(no error)") << "--seek_timeout=" << t;
  }
  // No backoff at all, and a fixed one, are both allowed.
  absl::SetFlag(&FLAGS_min_backoff, absl::ZeroDuration());
  absl::SetFlag(&FLAGS_max_backoff, absl::ZeroDuration());
  EXPECT_EQ(ConfigError(), "(no error)");
  absl::SetFlag(&FLAGS_min_backoff, absl::Seconds(4));
  absl::SetFlag(&FLAGS_max_backoff, absl::Seconds(4));
  EXPECT_EQ(ConfigError(), "(no error)");
}

TEST(BridgeConfigTest, RegionTokensAndTheOperatorTokenAreReadFromTheirFiles) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_replica_id, "b1");
  absl::SetFlag(&FLAGS_region_tokens_file,
                WriteFile("tokens", "eu 0123456789abcdef\nus fedcba9876543210\n"));
  absl::SetFlag(&FLAGS_operator_token_file, WriteFile("operator", "operator-token-0123456789\n"));
  absl::StatusOr<BridgeConfig> c = BridgeConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->bridge.region_tokens,
              ::testing::ElementsAre(::testing::Pair("eu", "0123456789abcdef"),
                                     ::testing::Pair("us", "fedcba9876543210")));
  EXPECT_TRUE(c->bridge.operator_auth.enabled());
}

TEST(BridgeConfigTest, UnreadableOrBadTokenFilesAreRefusedNamingTheFlag) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_replica_id, "b1");
  const std::string missing = absl::StrCat(::testing::TempDir(), "/no-such-tokens-file");
  absl::SetFlag(&FLAGS_region_tokens_file, missing);
  {
    absl::StatusOr<BridgeConfig> c = BridgeConfigFromFlags();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(std::string(c.status().message()), HasSubstr("--region_tokens_file"));
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(missing));
  }
  absl::SetFlag(&FLAGS_region_tokens_file, WriteFile("short", "eu short\n"));
  EXPECT_THAT(ConfigError(), HasSubstr("--region_tokens_file: line 1"));

  absl::SetFlag(&FLAGS_region_tokens_file, "");
  absl::SetFlag(&FLAGS_operator_token_file, missing);
  {
    absl::StatusOr<BridgeConfig> c = BridgeConfigFromFlags();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(c.status().message()), HasSubstr("--operator_token_file: "));
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(missing));
  }
  absl::SetFlag(&FLAGS_operator_token_file, WriteFile("op-short", "short\n"));
  EXPECT_THAT(ConfigError(), HasSubstr("--operator_token_file: "));
  EXPECT_THAT(ConfigError(), HasSubstr("fewer than 16 bytes"));
}

TEST(LoadRegionTokensTest, SkipsCommentsAndBlankLinesAndSplitsOnSpacesOrTabs) {
  const std::string path = WriteFile("tokens",
                                     "# region token\n"
                                     "\n"
                                     "   \n"
                                     "eu 0123456789abcdef\n"
                                     "  us-east\t\tfedcba9876543210  \n"
                                     "   # indented comment\n");
  absl::StatusOr<std::map<std::string, std::string>> tokens = LoadRegionTokens(path);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_THAT(*tokens, ::testing::ElementsAre(::testing::Pair("eu", "0123456789abcdef"),
                                              ::testing::Pair("us-east", "fedcba9876543210")));
}

TEST(LoadRegionTokensTest, AnEmptyFileGivesNoTokens) {
  absl::StatusOr<std::map<std::string, std::string>> tokens =
      LoadRegionTokens(WriteFile("empty", ""));
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_TRUE(tokens->empty());
}

TEST(LoadRegionTokensTest, ABadLineIsRefusedWithItsNumber) {
  struct Case {
    std::string line;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"eu 0123456789abcde", "a token of 15 bytes"},
      {"eu", "no token"},
      {"eu 0123456789abcdef extra", "three fields"},
      {"EU 0123456789abcdef", "a region that is not a region name"},
      {"eu- 0123456789abcdef", "a region ending with '-'"},
  };
  for (const Case& c : cases) {
    const std::string path =
        WriteFile("bad", absl::StrCat("# header\nus fedcba9876543210\n\n", c.line, "\n"));
    absl::StatusOr<std::map<std::string, std::string>> tokens = LoadRegionTokens(path);
    ASSERT_FALSE(tokens.ok()) << c.why << " was accepted";
    EXPECT_EQ(tokens.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(tokens.status().message(),
              "--region_tokens_file: line 4 is not 'region token' (token at least 16 bytes)")
        << c.why;
  }
}

TEST(LoadRegionTokensTest, AMissingFileIsNotFoundNamingThePath) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/no-such-file-here");
  absl::StatusOr<std::map<std::string, std::string>> tokens = LoadRegionTokens(path);
  ASSERT_FALSE(tokens.ok());
  EXPECT_EQ(tokens.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(tokens.status().message(), absl::StrCat("--region_tokens_file: cannot read ", path));
}

}  // namespace
}  // namespace cdnwarm::bridge
