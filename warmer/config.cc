#include "warmer/config.h"

#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/core/naming.h"
#include "common/fetch/fetch_config.h"

ABSL_FLAG(std::string, region, "", "Region this warmer serves (required), e.g. eu-west");
ABSL_FLAG(std::string, bridge_address, "",
          "streamer-bridge host:port to subscribe to; empty runs WarmNow only");
ABSL_FLAG(std::string, bridge_token_file, "",
          "File with the bearer token the bridge expects for this region");
ABSL_FLAG(bool, bridge_tls, false,
          "Subscribe over TLS (implied by the --bridge_*_file flags); the system's roots "
          "verify the bridge unless --bridge_ca_file is set");
ABSL_FLAG(std::string, bridge_ca_file, "", "PEM CA certificates that verify the bridge");
ABSL_FLAG(std::string, bridge_cert_file, "",
          "PEM client certificate for a bridge that requires mutual TLS (with "
          "--bridge_key_file); re-read when it changes");
ABSL_FLAG(std::string, bridge_key_file, "", "PEM private key of --bridge_cert_file");
ABSL_FLAG(std::string, subscriber_id, "", "Subscriber id (default: the replica id)");
ABSL_FLAG(std::vector<std::string>, edge_pins, {},
          "Edge pins host:port:edge-host:edge-port (CURLOPT_CONNECT_TO), comma separated: this "
          "region's edge whatever DNS says");
ABSL_FLAG(bool, allow_unpinned_hosts, false,
          "With --edge_pins set, also warm hosts no pin covers, wherever DNS points (by default "
          "they finish FAILED naming the host: such a fetch may not reach this region's edge)");
ABSL_FLAG(int, max_concurrency, 64, "HTTP exchanges at once, all hosts");
ABSL_FLAG(int, max_per_host, 8, "HTTP exchanges at once per host (the adaptive limit's ceiling)");
ABSL_FLAG(double, host_rate, 0, "Requests per second per host; 0 = unlimited");
ABSL_FLAG(int, host_burst, 10, "Token bucket burst per host");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(5), "Connect timeout");
ABSL_FLAG(absl::Duration, request_timeout, absl::Seconds(30), "Whole-exchange timeout");
ABSL_FLAG(int64_t, max_body_bytes, 256 << 20,
          "Body bytes read per response; more is reported as capped");
ABSL_FLAG(std::string, user_agent, "cdnwarm-warmer/1", "User-Agent unless a variant sets one");
ABSL_FLAG(std::string, ca_file, "",
          "PEM file of the CAs trusted for https edges instead of the system's (e.g. a private "
          "CDN's or a test CA)");
ABSL_FLAG(bool, verify, true,
          "After an answer that was not a HIT, GET again: WARMED only if that is a HIT (one "
          "more GET per MISS); with --verify=false a MISS counts as stored");
ABSL_FLAG(absl::Duration, ack_deadline, absl::Seconds(60), "Ack deadline asked of the bridge");
ABSL_FLAG(int, max_outstanding, 0, "Deliveries in flight (bridge credit); 0 = max_concurrency");

namespace cdnwarm::warmer {
namespace {

absl::StatusOr<std::string> ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--bridge_token_file: cannot read ", path));
  std::stringstream buf;
  buf << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(buf.str()));
}

}  // namespace

absl::StatusOr<EdgePin> ParseEdgePin(const std::string& pin) {
  // Split on the colons outside brackets.
  std::vector<std::string> parts(1);
  int depth = 0;
  for (char c : pin) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ':' && depth == 0) {
      parts.emplace_back();
    } else {
      parts.back().push_back(c);
    }
  }
  EdgePin out;
  int edge_port = 0;
  const bool ok = parts.size() == 4 &&
                  (parts[1].empty() || absl::SimpleAtoi(parts[1], &out.port)) &&
                  (parts[3].empty() || absl::SimpleAtoi(parts[3], &edge_port)) && out.port >= 0 &&
                  out.port <= 65535 && edge_port >= 0 && edge_port <= 65535;
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("--edge_pins: \"", pin, "\" is not host:port:edge-host:edge-port"));
  }
  out.host = absl::AsciiStrToLower(parts[0]);
  return out;
}

absl::Status ValidateEdgePin(const std::string& pin) { return ParseEdgePin(pin).status(); }

absl::StatusOr<WarmerConfig> WarmerConfigFromFlags() {
  WarmerConfig c;
  absl::StatusOr<common::CommonConfig> common = common::CommonConfigFromFlags(kServiceInfo);
  if (!common.ok()) return common.status();
  c.common = *std::move(common);
  absl::StatusOr<common::FetchGuard> guard = common::FetchGuardFromFlags();
  if (!guard.ok()) return guard.status();
  c.fetch_guard = *std::move(guard);

  c.subscriber.region = absl::GetFlag(FLAGS_region);
  if (absl::Status s = common::ValidateRegion(c.subscriber.region); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--region: ", s.message()));
  }
  c.bridge_address = absl::GetFlag(FLAGS_bridge_address);
  if (const std::string f = absl::GetFlag(FLAGS_bridge_token_file); !f.empty()) {
    absl::StatusOr<std::string> token = ReadToken(f);
    if (!token.ok()) return token.status();
    c.subscriber.bearer_token = *token;
  }
  c.bridge_tls = common::TlsFiles{.cert_file = absl::GetFlag(FLAGS_bridge_cert_file),
                                  .key_file = absl::GetFlag(FLAGS_bridge_key_file),
                                  .ca_file = absl::GetFlag(FLAGS_bridge_ca_file),
                                  .reload_interval = c.common.server.tls.reload_interval,
                                  .cert_flag = "bridge_cert_file",
                                  .key_flag = "bridge_key_file",
                                  .ca_flag = "bridge_ca_file"};
  c.use_bridge_tls = absl::GetFlag(FLAGS_bridge_tls) || !c.bridge_tls.cert_file.empty() ||
                     !c.bridge_tls.key_file.empty() || !c.bridge_tls.ca_file.empty();
  if (absl::Status s = common::CheckTlsFiles(c.bridge_tls); !s.ok()) return s;
  c.subscriber.subscriber_id = absl::GetFlag(FLAGS_subscriber_id);
  if (c.subscriber.subscriber_id.empty()) c.subscriber.subscriber_id = c.common.replica_id;

  c.engine.connect_to = absl::GetFlag(FLAGS_edge_pins);
  for (const std::string& pin : c.engine.connect_to) {
    absl::StatusOr<EdgePin> parsed = ParseEdgePin(pin);
    if (!parsed.ok()) return parsed.status();
    c.edge_pins.push_back(*std::move(parsed));
  }
  c.allow_unpinned_hosts = absl::GetFlag(FLAGS_allow_unpinned_hosts);
  c.engine.max_total = absl::GetFlag(FLAGS_max_concurrency);
  c.engine.max_per_host = absl::GetFlag(FLAGS_max_per_host);
  if (c.engine.max_total < 1 || c.engine.max_total > 10000 || c.engine.max_per_host < 1 ||
      c.engine.max_per_host > c.engine.max_total) {
    return absl::InvalidArgumentError(
        "--max_concurrency must be 1..10000 and --max_per_host 1..max_concurrency");
  }
  c.engine.host_rate = absl::GetFlag(FLAGS_host_rate);
  c.engine.host_burst = absl::GetFlag(FLAGS_host_burst);
  if (c.engine.host_rate < 0 || c.engine.host_burst < 1) {
    return absl::InvalidArgumentError("--host_rate must be >= 0 and --host_burst >= 1");
  }
  c.engine.connect_timeout = absl::GetFlag(FLAGS_connect_timeout);
  c.engine.total_timeout = absl::GetFlag(FLAGS_request_timeout);
  if (c.engine.connect_timeout <= absl::ZeroDuration() ||
      c.engine.total_timeout < c.engine.connect_timeout) {
    return absl::InvalidArgumentError(
        "--connect_timeout must be > 0 and --request_timeout at least --connect_timeout");
  }
  c.engine.max_body_bytes = absl::GetFlag(FLAGS_max_body_bytes);
  if (c.engine.max_body_bytes < 1)
    return absl::InvalidArgumentError("--max_body_bytes must be >= 1");
  c.engine.user_agent = absl::GetFlag(FLAGS_user_agent);
  c.engine.ca_file = absl::GetFlag(FLAGS_ca_file);
  c.verify = absl::GetFlag(FLAGS_verify);
  c.subscriber.ack_deadline = absl::GetFlag(FLAGS_ack_deadline);
  if (c.subscriber.ack_deadline < absl::Seconds(1) || c.subscriber.ack_deadline > absl::Hours(1)) {
    return absl::InvalidArgumentError("--ack_deadline must be between 1s and 1h");
  }
  const int outstanding = absl::GetFlag(FLAGS_max_outstanding);
  if (outstanding < 0 || outstanding > 100000) {
    return absl::InvalidArgumentError("--max_outstanding must be 0..100000");
  }
  c.subscriber.max_outstanding =
      static_cast<uint32_t>(outstanding == 0 ? c.engine.max_total : outstanding);
  return c;
}

}  // namespace cdnwarm::warmer
