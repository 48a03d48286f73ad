#include "common/core/server_runner.h"

#include <signal.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/core/log.h"
#include "common/core/sync.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server_builder.h"

namespace cdnwarm::common {
namespace {

sigset_t TerminationSignalSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void BlockTerminationSignals() {
  const sigset_t set = TerminationSignalSet();
  if (int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
    log::Fatal("cannot block termination signals", {{"error", std::strerror(rc)}});
  }
}

ServerRunner::ServerRunner(ServerOptions options, metrics::Registry& registry)
    : options_(std::move(options)), registry_(registry) {}

ServerRunner::~ServerRunner() {
  Shutdown();
  Wait();
}

void ServerRunner::AddService(grpc::Service* service) { services_.push_back(service); }

void ServerRunner::OnDrain(std::function<void()> hook) { drain_hooks_.push_back(std::move(hook)); }

absl::Status ServerRunner::Start() {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentials(options_.tls);
  if (!credentials.ok()) return credentials.status();
  auto admin = HttpServer::Start(options_.admin_address, AdminRoutes(registry_, readiness_));
  if (!admin.ok()) {
    return absl::Status(admin.status().code(),
                        absl::StrCat("admin ", admin.status().message(), " (--admin_address)"));
  }
  admin_ = std::move(*admin);

  // gRPC's built-in health service has no protobuf descriptor; touching ours links it in,
  // so reflection can describe grpc.health.v1.Health to clients like grpcurl.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.grpc_address, *credentials, &grpc_port_);
  builder.SetMaxReceiveMessageSize(options_.max_receive_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams);
  // Without this a second process could silently share the port (SO_REUSEPORT).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  ApplyServerKeepalive(options_.keepalive, builder);
  for (grpc::Service* service : services_) builder.RegisterService(service);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || grpc_port_ == 0) {
    admin_.reset();
    return absl::UnavailableError(absl::StrCat("gRPC server cannot listen on \"",
                                               options_.grpc_address,
                                               "\" (address in use or invalid); stop what "
                                               "listens there or choose another --grpc_address "
                                               "(port 0 picks a free one)"));
  }

  // Before health says anything: a hook that fails stops the servers before any probe or
  // readiness listener saw them.
  for (const auto& hook : started_hooks_) {
    if (absl::Status s = hook(); !s.ok()) {
      server_->Shutdown(std::chrono::system_clock::now());
      server_.reset();
      admin_.reset();
      return s;
    }
  }

  // Readiness is the overall status (""); "liveness" stays SERVING while the process serves,
  // so a Kubernetes liveness probe does not restart a replica that only lost Kafka. Setting
  // the overall status sets every service's, hence liveness is set again after it.
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  auto publish = [health](bool ready) {
    health->SetServingStatus(ready);
    health->SetServingStatus(std::string(kLivenessService), true);
  };
  publish(readiness_.Ready());
  readiness_.OnChange(publish);

  log::Info(
      "serving",
      {{"grpc_port", grpc_port_}, {"admin_port", admin_->port()}, {"ready", readiness_.Ready()}});
  return absl::OkStatus();
}

void ServerRunner::OnStarted(std::function<absl::Status()> hook) {
  started_hooks_.push_back(std::move(hook));
}

std::shared_ptr<grpc::Channel> ServerRunner::InProcessChannel() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // the server's own limit applies to what it is sent
  return server_->InProcessChannel(args);
}

void ServerRunner::Shutdown() {
  MutexLock lock(&mu_);
  if (draining_) return;
  draining_ = true;
  if (server_ == nullptr) {
    drained_.Notify();
    return;
  }
  // Drain off the caller's thread: Shutdown may be called from inside an RPC handler.
  drain_thread_ = std::thread([this] { Drain(); });
}

void ServerRunner::Drain() {
  const absl::Time started = absl::Now();
  log::Info("drain started", {{"drain_timeout", options_.drain_timeout}});
  readiness_.Set("not-draining", false);
  // Health stays NOT_SERVING from here on, whatever readiness says later.
  server_->GetHealthCheckService()->Shutdown();
  for (const auto& hook : drain_hooks_) hook();
  server_->Shutdown(absl::ToChronoTime(started + options_.drain_timeout));
  server_->Wait();
  log::Info("drain finished", {{"elapsed", absl::Now() - started}});
  drained_.Notify();
}

void ServerRunner::Wait() {
  drained_.WaitForNotification();
  MutexLock lock(&mu_);
  if (drain_thread_.joinable()) drain_thread_.join();
}

absl::Status ServerRunner::RunUntilSignalled() {
  if (absl::Status s = Start(); !s.ok()) return s;
  const sigset_t set = TerminationSignalSet();
  const timespec poll_interval{0, 200 * 1000 * 1000};
  // sigtimedwait rather than sigwait so a programmatic Shutdown also ends this loop.
  while (!drained_.HasBeenNotified()) {
    siginfo_t info;
    const int sig = sigtimedwait(&set, &info, &poll_interval);
    if (sig > 0) {
      log::Info("termination signal received", {{"signal", strsignal(sig)}});
      Shutdown();
      break;
    }
    if (sig < 0 && errno != EAGAIN && errno != EINTR) {
      return absl::InternalError(absl::StrCat("sigtimedwait: ", std::strerror(errno)));
    }
    MutexLock lock(&mu_);
    if (draining_) break;
  }
  Wait();
  return absl::OkStatus();
}

}  // namespace cdnwarm::common
