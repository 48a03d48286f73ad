#include "common/core/config.h"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/core/naming.h"
#include "common/core/version.h"

ABSL_FLAG(std::string, grpc_address, "",
          "gRPC listen address host:port (default 0.0.0.0:<service port>: producer 50051, "
          "streamer-bridge 50052, warmer 50053)");
ABSL_FLAG(std::string, admin_address, "",
          "Admin HTTP listen address for /metrics, /healthz, /readyz (default "
          "0.0.0.0:<admin port>: producer 9101, streamer-bridge 9102, warmer 9103)");
ABSL_FLAG(std::string, instance, "",
          "Instance suffix appended to topic and group names so isolated instances can share "
          "one Kafka cluster; empty or ^[a-z][a-z0-9]{0,15}$");
ABSL_FLAG(std::string, replica_id, "",
          "Name of this replica in logs, metrics and results (default: the host name)");
ABSL_FLAG(std::string, log_level, "info", "Minimum log level: debug, info, warn, error");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(20),
          "On SIGTERM, time in-flight calls get to finish; keep it below the Kubernetes "
          "termination grace period");
ABSL_FLAG(int, max_message_bytes, 4 * 1024 * 1024, "Largest gRPC message accepted, bytes");
ABSL_FLAG(int, max_concurrent_streams, 100,
          "Concurrent gRPC calls one client connection may have open; more wait or fail");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain: serve gRPC over TLS (with --tls_key_file). Re-read when it "
          "changes");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA certificates: require clients to present a certificate they signed (mutual "
          "TLS)");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Seconds(60),
          "How often TLS certificate, key and CA files are checked for changes");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Seconds(20),
          "gRPC keepalive: ping every connection this often (a server its clients, the warmer "
          "its bridge), so a connection that died silently is found and closed");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(10),
          "gRPC keepalive: close a connection whose ping is not answered within this");
namespace cdnwarm::common {
namespace {

std::string HostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

// This file's path when compiled ends in "common/core/config.cc"; what precedes it is the source
// root, which flag file names are shown relative to.
absl::string_view SourceRoot() {
  constexpr absl::string_view kSelf = "common/core/config.cc";
  absl::string_view file = __FILE__;
  if (!absl::EndsWith(file, kSelf)) return "";
  return file.substr(0, file.size() - kSelf.size());
}

// --help shows the flags defined in cdnwarm's own sources (the shared ones and the
// service's), not gRPC's or Abseil's internal ones; --helpfull still shows everything.
bool IsCdnwarmFlagFile(absl::string_view normalized) {
  for (absl::string_view dir : {"common/", "producer/", "streamer-bridge/", "warmer/"}) {
    if (absl::StartsWith(normalized, dir)) return true;
  }
  return false;
}

}  // namespace

std::string VersionLine(absl::string_view program) {
  return absl::StrCat(program, " (cdnwarm) ", kVersion, ", commit ", kGitCommit);
}

void ParseFlags(int argc, char** argv, const ServiceInfo& info) {
  absl::SetProgramUsageMessage(absl::StrCat(
      info.description, " (cdnwarm)\n\nUsage: ", info.name,
      " [flags]\n\nFlags from common/ are shared by every cdnwarm service; the others are the ",
      info.name, "'s own. Durations take units (500ms, 20s, 5m). --helpfull also lists the ",
      "libraries' flags; --version prints the version and git commit."));
  const std::string program(info.name);
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = IsCdnwarmFlagFile;
  usage.contains_helpshort_flags = IsCdnwarmFlagFile;
  usage.normalize_filename = [](absl::string_view file) {
    const absl::string_view root = SourceRoot();
    if (!root.empty() && absl::StartsWith(file, root)) file.remove_prefix(root.size());
    return std::string(file);
  };
  usage.version_string = [program] { return VersionLine(program) + "\n"; };
  absl::SetFlagsUsageConfig(usage);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(
        stderr,
        "%s: unexpected argument '%s': every setting is a flag, --name=value (see --help)\n",
        program.c_str(), rest[1]);
    std::exit(2);
  }
}

absl::StatusOr<CommonConfig> CommonConfigFromFlags(const ServiceInfo& info) {
  CommonConfig c;
  c.service = std::string(info.name);

  c.instance = absl::GetFlag(FLAGS_instance);
  if (absl::Status s = ValidateInstance(c.instance); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--instance: ", s.message()));
  }
  c.replica_id = absl::GetFlag(FLAGS_replica_id);
  if (c.replica_id.empty()) c.replica_id = HostName();

  if (absl::Status s = log::ParseLevel(absl::GetFlag(FLAGS_log_level), &c.log_level); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--log_level: ", s.message()));
  }

  c.server.grpc_address = absl::GetFlag(FLAGS_grpc_address);
  if (c.server.grpc_address.empty()) {
    c.server.grpc_address = absl::StrCat("0.0.0.0:", info.default_grpc_port);
  }
  c.server.admin_address = absl::GetFlag(FLAGS_admin_address);
  if (c.server.admin_address.empty()) {
    c.server.admin_address = absl::StrCat("0.0.0.0:", info.default_admin_port);
  }
  for (const auto& [flag, address] : {std::pair{"grpc_address", c.server.grpc_address},
                                      std::pair{"admin_address", c.server.admin_address}}) {
    std::string host;
    int port = 0;
    if (absl::Status s = SplitHostPort(address, &host, &port); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", s.message()));
    }
  }
  c.server.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  if (c.server.drain_timeout < absl::ZeroDuration() || c.server.drain_timeout > absl::Minutes(10)) {
    return absl::InvalidArgumentError("--drain_timeout must be between 0s and 10m");
  }
  c.server.max_receive_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  if (c.server.max_receive_message_bytes < 1024 ||
      c.server.max_receive_message_bytes > 64 * 1024 * 1024) {
    return absl::InvalidArgumentError("--max_message_bytes must be between 1024 and 67108864");
  }

  c.server.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  if (c.server.max_concurrent_streams < 1 || c.server.max_concurrent_streams > 10000) {
    return absl::InvalidArgumentError("--max_concurrent_streams must be between 1 and 10000");
  }
  c.server.keepalive.time = absl::GetFlag(FLAGS_keepalive_time);
  c.server.keepalive.timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  if (c.server.keepalive.time < absl::Seconds(1) || c.server.keepalive.time > absl::Hours(2)) {
    return absl::InvalidArgumentError("--keepalive_time must be between 1s and 2h");
  }
  if (c.server.keepalive.timeout < absl::Seconds(1) ||
      c.server.keepalive.timeout > absl::Minutes(5)) {
    return absl::InvalidArgumentError("--keepalive_timeout must be between 1s and 5m");
  }
  c.server.tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  c.server.tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  c.server.tls.ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  c.server.tls.reload_interval = absl::GetFlag(FLAGS_tls_reload_interval);
  if (c.server.tls.reload_interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("--tls_reload_interval must be at least 1s");
  }
  if (absl::Status s = CheckServerTls(c.server.tls); !s.ok()) return s;

  return c;
}

void ApplyLogging(const CommonConfig& config) {
  log::SetService(config.service);
  log::SetMinLevel(config.log_level);
  log::CaptureGrpcLogs();
}

}  // namespace cdnwarm::common
