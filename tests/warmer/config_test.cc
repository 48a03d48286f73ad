// The warmer's flags: WarmerConfigFromFlags maps each flag to its setting and refuses bad
// values with an error naming the flag; ParseEdgePin reads --edge_pins entries.

#include "warmer/config.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/nginx_server.h"

ABSL_DECLARE_FLAG(std::string, region);
ABSL_DECLARE_FLAG(std::string, replica_id);
ABSL_DECLARE_FLAG(std::string, log_level);
ABSL_DECLARE_FLAG(std::vector<std::string>, allowed_hosts);
ABSL_DECLARE_FLAG(std::string, bridge_address);
ABSL_DECLARE_FLAG(std::string, bridge_token_file);
ABSL_DECLARE_FLAG(bool, bridge_tls);
ABSL_DECLARE_FLAG(std::string, bridge_ca_file);
ABSL_DECLARE_FLAG(std::string, bridge_cert_file);
ABSL_DECLARE_FLAG(std::string, subscriber_id);
ABSL_DECLARE_FLAG(std::vector<std::string>, edge_pins);
ABSL_DECLARE_FLAG(bool, allow_unpinned_hosts);
ABSL_DECLARE_FLAG(int, max_concurrency);
ABSL_DECLARE_FLAG(int, max_per_host);
ABSL_DECLARE_FLAG(double, host_rate);
ABSL_DECLARE_FLAG(int, host_burst);
ABSL_DECLARE_FLAG(absl::Duration, connect_timeout);
ABSL_DECLARE_FLAG(absl::Duration, request_timeout);
ABSL_DECLARE_FLAG(int64_t, max_body_bytes);
ABSL_DECLARE_FLAG(std::string, user_agent);
ABSL_DECLARE_FLAG(std::string, ca_file);
ABSL_DECLARE_FLAG(bool, verify);
ABSL_DECLARE_FLAG(absl::Duration, ack_deadline);
ABSL_DECLARE_FLAG(int, max_outstanding);

namespace cdnwarm::warmer {
namespace {

using ::testing::HasSubstr;

// The error WarmerConfigFromFlags gives with the flags as they are now.
std::string ConfigError() {
  absl::StatusOr<WarmerConfig> c = WarmerConfigFromFlags();
  return c.ok() ? "(no error)" : std::string(c.status().message());
}

TEST(WarmerConfigTest, EachFlagReachesItsSetting) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_region, "eu-west");
  absl::SetFlag(&FLAGS_replica_id, "warmer-7");
  absl::SetFlag(&FLAGS_bridge_address, "bridge:50052");
  absl::SetFlag(&FLAGS_max_concurrency, 20);
  absl::SetFlag(&FLAGS_max_per_host, 3);
  absl::SetFlag(&FLAGS_host_rate, 2.5);
  absl::SetFlag(&FLAGS_host_burst, 4);
  absl::SetFlag(&FLAGS_connect_timeout, absl::Seconds(2));
  absl::SetFlag(&FLAGS_request_timeout, absl::Seconds(9));
  absl::SetFlag(&FLAGS_max_body_bytes, int64_t{12345});
  absl::SetFlag(&FLAGS_user_agent, "ua/2");
  absl::SetFlag(&FLAGS_ca_file, "/etc/edge-ca.pem");
  absl::SetFlag(&FLAGS_verify, false);
  absl::SetFlag(&FLAGS_ack_deadline, absl::Seconds(90));
  absl::SetFlag(&FLAGS_allow_unpinned_hosts, true);

  absl::StatusOr<WarmerConfig> c = WarmerConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->subscriber.region, "eu-west");
  EXPECT_EQ(c->bridge_address, "bridge:50052");
  EXPECT_EQ(c->engine.max_total, 20);
  EXPECT_EQ(c->engine.max_per_host, 3);
  EXPECT_DOUBLE_EQ(c->engine.host_rate, 2.5);
  EXPECT_EQ(c->engine.host_burst, 4);
  EXPECT_EQ(c->engine.connect_timeout, absl::Seconds(2));
  EXPECT_EQ(c->engine.total_timeout, absl::Seconds(9));
  EXPECT_EQ(c->engine.max_body_bytes, 12345);
  EXPECT_EQ(c->engine.user_agent, "ua/2");
  EXPECT_EQ(c->engine.ca_file, "/etc/edge-ca.pem");
  EXPECT_FALSE(c->verify);
  EXPECT_EQ(c->subscriber.ack_deadline, absl::Seconds(90));
  EXPECT_TRUE(c->allow_unpinned_hosts);
  // Defaults that follow other settings: the subscriber id is the replica's, the bridge
  // credit is the concurrency, and no TLS without a TLS flag.
  EXPECT_EQ(c->subscriber.subscriber_id, "warmer-7");
  EXPECT_EQ(c->subscriber.max_outstanding, 20u);
  EXPECT_FALSE(c->use_bridge_tls);
  EXPECT_TRUE(c->subscriber.bearer_token.empty());

  absl::SetFlag(&FLAGS_subscriber_id, "sub-1");
  absl::SetFlag(&FLAGS_max_outstanding, 5);
  absl::SetFlag(&FLAGS_bridge_tls, true);
  c = WarmerConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->subscriber.subscriber_id, "sub-1");
  EXPECT_EQ(c->subscriber.max_outstanding, 5u);
  EXPECT_TRUE(c->use_bridge_tls);
}

TEST(WarmerConfigTest, TheRegionIsRequiredAndValidated) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_region, "");
  EXPECT_THAT(ConfigError(), HasSubstr("--region: region \"\" is empty"));
  absl::SetFlag(&FLAGS_region, "EU");
  EXPECT_THAT(ConfigError(), HasSubstr("--region: region \"EU\" does not start with a lower-case"));
}

TEST(WarmerConfigTest, ConcurrencyLimitsAreBoundedAndNamed) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_region, "eu");
  const std::string message =
      "--max_concurrency must be 1..10000 and --max_per_host 1..max_concurrency";
  struct Case {
    int total;
    int per_host;
  };
  for (const Case& bad : {Case{0, 1}, Case{10001, 8}, Case{8, 0}, Case{4, 5}}) {
    absl::SetFlag(&FLAGS_max_concurrency, bad.total);
    absl::SetFlag(&FLAGS_max_per_host, bad.per_host);
    EXPECT_EQ(ConfigError(), message) << bad.total << "/" << bad.per_host;
  }
  absl::SetFlag(&FLAGS_max_concurrency, 10000);
  absl::SetFlag(&FLAGS_max_per_host, 10000);
  EXPECT_TRUE(WarmerConfigFromFlags().ok()) << "the bounds themselves are allowed";
}

TEST(WarmerConfigTest, RateTimeoutBodyAndDeadlineErrorsNameTheirFlags) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_region, "eu");
  {
    absl::FlagSaver inner;
    absl::SetFlag(&FLAGS_host_rate, -1.0);
    EXPECT_EQ(ConfigError(), "--host_rate must be >= 0 and --host_burst >= 1");
  }
  {
    absl::FlagSaver inner;
    absl::SetFlag(&FLAGS_host_burst, 0);
    EXPECT_EQ(ConfigError(), "--host_rate must be >= 0 and --host_burst >= 1");
  }
  const std::string timeouts =
      "--connect_timeout must be > 0 and --request_timeout at least --connect_timeout";
  {
    absl::FlagSaver inner;
    absl::SetFlag(&FLAGS_connect_timeout, absl::ZeroDuration());
    EXPECT_EQ(ConfigError(), timeouts);
  }
  {
    absl::FlagSaver inner;
    absl::SetFlag(&FLAGS_connect_timeout, absl::Seconds(10));
    absl::SetFlag(&FLAGS_request_timeout, absl::Seconds(9));
    EXPECT_EQ(ConfigError(), timeouts);
  }
  {
    absl::FlagSaver inner;
    absl::SetFlag(&FLAGS_max_body_bytes, int64_t{0});
    EXPECT_EQ(ConfigError(), "--max_body_bytes must be >= 1");
  }
  for (const absl::Duration d : {absl::Milliseconds(999), absl::Hours(1) + absl::Seconds(1)}) {
    absl::FlagSaver inner;
    absl::SetFlag(&FLAGS_ack_deadline, d);
    EXPECT_EQ(ConfigError(), "--ack_deadline must be between 1s and 1h") << d;
  }
  for (const int n : {-1, 100001}) {
    absl::FlagSaver inner;
    absl::SetFlag(&FLAGS_max_outstanding, n);
    EXPECT_EQ(ConfigError(), "--max_outstanding must be 0..100000") << n;
  }
  EXPECT_TRUE(WarmerConfigFromFlags().ok()) << "each bad value was restored";
}

TEST(WarmerConfigTest, TheBridgeTokenIsReadFromItsFileWithoutSurroundingSpace) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_region, "eu");
  const std::string dir = testing::MakeTempDir("warmer-config");
  const std::string path = dir + "/token";
  testing::WriteFile(path, "  s3cret-token\n");
  absl::SetFlag(&FLAGS_bridge_token_file, path);
  absl::StatusOr<WarmerConfig> c = WarmerConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->subscriber.bearer_token, "s3cret-token");

  absl::SetFlag(&FLAGS_bridge_token_file, dir + "/missing");
  c = WarmerConfigFromFlags();
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(),
            absl::StrCat("--bridge_token_file: cannot read ", dir, "/missing"));
}

TEST(WarmerConfigTest, BridgeTlsFlagsAreCheckedAndImplyTls) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_region, "eu");
  {
    absl::FlagSaver inner;
    absl::SetFlag(&FLAGS_bridge_cert_file, "/nowhere/cert.pem");
    EXPECT_THAT(ConfigError(), HasSubstr("--bridge_cert_file and --bridge_key_file must be set "
                                         "together"));
  }
  absl::SetFlag(&FLAGS_bridge_ca_file, "/nowhere/ca.pem");
  EXPECT_THAT(ConfigError(), HasSubstr("--bridge_ca_file"));
  // A CA file that is not PEM is refused naming the flag too.
  const std::string dir = testing::MakeTempDir("warmer-config");
  testing::WriteFile(dir + "/ca.pem", "not a certificate\n");
  absl::SetFlag(&FLAGS_bridge_ca_file, dir + "/ca.pem");
  EXPECT_THAT(ConfigError(), HasSubstr("--bridge_ca_file"));
}

TEST(WarmerConfigTest, EdgePinsGoToTheEngineAndAreParsedForTheWarmer) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_region, "eu");
  const std::vector<std::string> pins = {"CDN.Example.test:80:127.0.0.2:8080",
                                         "[2001:db8::1]::edge.test:443"};
  absl::SetFlag(&FLAGS_edge_pins, pins);
  absl::StatusOr<WarmerConfig> c = WarmerConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->engine.connect_to, pins) << "libcurl gets them as written";
  ASSERT_EQ(c->edge_pins.size(), 2u);
  EXPECT_EQ(c->edge_pins[0].host, "cdn.example.test");
  EXPECT_EQ(c->edge_pins[0].port, 80);
  EXPECT_EQ(c->edge_pins[1].host, "[2001:db8::1]");
  EXPECT_EQ(c->edge_pins[1].port, 0);

  absl::SetFlag(&FLAGS_edge_pins, std::vector<std::string>{"cdn.example.test:80:edge"});
  EXPECT_EQ(ConfigError(),
            "--edge_pins: \"cdn.example.test:80:edge\" is not host:port:edge-host:edge-port");
}

TEST(WarmerConfigTest, SharedFlagErrorsComeThroughNamed) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_region, "eu");
  {
    absl::FlagSaver inner;
    absl::SetFlag(&FLAGS_log_level, "chatty");
    EXPECT_THAT(ConfigError(), HasSubstr("--log_level"));
  }
  absl::SetFlag(&FLAGS_allowed_hosts, std::vector<std::string>{"*."});
  EXPECT_THAT(ConfigError(), HasSubstr("--allowed_hosts: "));
}

TEST(EdgePinTest, ParsesHostAndPortAndAllowsEmptyOnes) {
  absl::StatusOr<EdgePin> pin = ParseEdgePin("CDN.Example.TEST:8443:10.1.2.3:443");
  ASSERT_TRUE(pin.ok()) << pin.status();
  EXPECT_EQ(pin->host, "cdn.example.test");
  EXPECT_EQ(pin->port, 8443);

  pin = ParseEdgePin(":::");  // CURLOPT_CONNECT_TO allows every part empty
  ASSERT_TRUE(pin.ok()) << pin.status();
  EXPECT_EQ(pin->host, "");
  EXPECT_EQ(pin->port, 0);

  pin = ParseEdgePin("[::1]:80:[fe80::1]:8080");  // colons inside brackets do not split
  ASSERT_TRUE(pin.ok()) << pin.status();
  EXPECT_EQ(pin->host, "[::1]");
  EXPECT_EQ(pin->port, 80);
}

TEST(EdgePinTest, RefusesWrongShapesAndPortsOutOfRange) {
  for (const std::string bad : {"", "a:1:b", "a:1:b:2:c", "a:x:b:2", "a:1:b:y", "a:65536:b:2",
                                "a:1:b:65536", "a:-1:b:2", "::1:80:edge:80"}) {
    absl::Status s = ValidateEdgePin(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message(),
              absl::StrCat("--edge_pins: \"", bad, "\" is not host:port:edge-host:edge-port"));
  }
  EXPECT_TRUE(ValidateEdgePin("a:65535:b:0").ok());
}

TEST(EdgePinTest, AnEmptyHostOrAZeroPortCoversAny) {
  const EdgePin exact{.host = "cdn.example.test", .port = 443};
  EXPECT_TRUE(exact.Covers("cdn.example.test", 443));
  EXPECT_FALSE(exact.Covers("cdn.example.test", 80));
  EXPECT_FALSE(exact.Covers("other.test", 443));
  const EdgePin any_port{.host = "cdn.example.test", .port = 0};
  EXPECT_TRUE(any_port.Covers("cdn.example.test", 8080));
  EXPECT_FALSE(any_port.Covers("other.test", 8080));
  const EdgePin any_host{.host = "", .port = 80};
  EXPECT_TRUE(any_host.Covers("whatever.test", 80));
  EXPECT_FALSE(any_host.Covers("whatever.test", 443));
}

}  // namespace
}  // namespace cdnwarm::warmer
