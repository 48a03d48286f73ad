#pragma once

// Runs a service process's servers: the gRPC server (with reflection and the standard
// grpc.health.v1 service, whose status follows readiness) and the admin HTTP port.
// Drains on SIGTERM/SIGINT: health turns NOT_SERVING, drain hooks run (services end
// their streams), then the gRPC server stops accepting calls and gives in-flight ones
// until the drain deadline.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/core/admin_http.h"
#include "common/core/keepalive.h"
#include "common/core/metrics.h"
#include "common/core/readiness.h"
#include "common/core/sync.h"
#include "common/core/tls.h"
#include "grpcpp/server.h"

namespace cdnwarm::common {

struct ServerOptions {
  // gRPC listen address, e.g. "0.0.0.0:50051"; port 0 picks a free one.
  std::string grpc_address = "127.0.0.1:0";
  // Admin HTTP listen address, e.g. "0.0.0.0:9101"; port 0 picks a free one.
  std::string admin_address = "127.0.0.1:0";
  // Time in-flight calls get to finish after a drain starts.
  absl::Duration drain_timeout = absl::Seconds(20);
  // Largest gRPC message accepted, bytes.
  int max_receive_message_bytes = 4 * 1024 * 1024;
  // Concurrent streams one client connection may hold open (HTTP/2 SETTINGS).
  int max_concurrent_streams = 100;
  // HTTP/2 pings that find dead connections (both ends: see keepalive.h).
  Keepalive keepalive{};
  // gRPC over TLS when a certificate is set; mutual TLS when a client CA is set too.
  TlsFiles tls{
      .cert_flag = "tls_cert_file", .key_flag = "tls_key_file", .ca_flag = "tls_client_ca_file"};
};

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts later, so
// ServerRunner::RunUntilSignalled can take them synchronously. Call first thing in main.
void BlockTerminationSignals();

// The health service name that reports SERVING while the process serves, whatever its
// readiness (Kubernetes liveness probes ask for it; readiness probes ask for "").
inline constexpr std::string_view kLivenessService = "liveness";

class ServerRunner {
 public:
  ServerRunner(ServerOptions options, metrics::Registry& registry);
  ~ServerRunner();
  ServerRunner(const ServerRunner&) = delete;
  ServerRunner& operator=(const ServerRunner&) = delete;

  // Registers a service (not owned; must outlive the runner). Before Start only.
  void AddService(grpc::Service* service);
  // Runs when a drain begins, before the gRPC server stops taking calls. Before Start only.
  void OnDrain(std::function<void()> hook);
  // Runs at the end of Start, once both ports serve (e.g. a server that calls this one
  // through InProcessChannel). An error stops the servers and is Start's. Before Start only.
  void OnStarted(std::function<absl::Status()> hook);
  Readiness& readiness() { return readiness_; }

  // Binds both ports and starts serving. Errors name the address that failed.
  absl::Status Start();
  int grpc_port() const { return grpc_port_; }
  // A channel to this process's gRPC server, in-process: no network, no TLS. After Start.
  std::shared_ptr<grpc::Channel> InProcessChannel();
  int admin_port() const { return admin_->port(); }

  // Begins the drain and returns at once; safe from any thread, more than once.
  void Shutdown();
  // Blocks until the drain has finished.
  void Wait();
  // Start, wait for SIGTERM/SIGINT (or Shutdown), drain. Requires BlockTerminationSignals.
  absl::Status RunUntilSignalled();

 private:
  void Drain();

  const ServerOptions options_;
  metrics::Registry& registry_;
  Readiness readiness_;
  std::vector<grpc::Service*> services_;
  std::vector<std::function<void()>> drain_hooks_;
  std::vector<std::function<absl::Status()>> started_hooks_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> admin_;
  int grpc_port_ = 0;

  Mutex mu_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  std::thread drain_thread_;
  absl::Notification drained_;
};

}  // namespace cdnwarm::common
