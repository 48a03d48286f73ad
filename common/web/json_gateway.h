#pragma once

// The console's API: our gRPC contracts over HTTP/1.1, in protobuf's canonical JSON mapping,
// printed and parsed by protobuf's own JSON code (google::protobuf::util).
//
//   POST /v1/<package.Service>/<Method>     e.g. /v1/cdnwarm.v1.Producer/Warm
//   Authorization: Bearer <token>           passed on as the call's "authorization" metadata
//
// - A unary method takes the request message as a JSON object and answers the reply as one.
// - A client-streaming method (WarmBatch) takes a JSON array of request messages, sent in
//   order, and answers its one reply.
// - A server-streaming method (WatchJob) answers Server-Sent Events (text/event-stream):
//   "data: <message>" per message, then "event: status" with {"code","status","message"}
//   once the call ends; a comment line (":") when it has been quiet for a while. A call that fails
//   before its first message is answered as an error.
// - An error is its HTTP equivalent (INVALID_ARGUMENT 400, UNAUTHENTICATED 401,
//   PERMISSION_DENIED 403, NOT_FOUND 404, RESOURCE_EXHAUSTED 429, UNAVAILABLE and CANCELLED
//   503, ...)
//   with the body {"code": <gRPC code>, "status": "<NAME>", "message": "..."}.
//
// Every call goes through a gRPC channel to the service itself (in-process for the
// process's own server), so authentication, validation and limits are the service's, and
// the gateway adds none of its own.

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/core/http_server.h"
#include "common/core/sync.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/channel.h"

namespace cdnwarm::web {

struct GatewayRoute {
  std::string service{};  // full name, e.g. "cdnwarm.v1.Producer"
  std::shared_ptr<grpc::Channel> channel{};
  std::vector<std::string> methods{};  // the methods offered; every one of the service's if empty
};

struct GatewayOptions {
  absl::Duration unary_deadline = absl::Seconds(60);  // a call that streams no replies
  size_t max_batch_messages = 100000;                 // JSON array entries, client streaming
  // A stream with nothing to say sends an SSE comment this often: a client that has gone
  // is found (and its call cancelled), and proxies keep the connection.
  absl::Duration heartbeat = absl::Seconds(15);
};

class GenericCall;

class JsonGateway {
 public:
  // Errors name a service or method missing from the linked contracts.
  static absl::StatusOr<std::unique_ptr<JsonGateway>> Create(std::vector<GatewayRoute> routes,
                                                             GatewayOptions options = {});
  // Shutdown(), then waits for the calls under way to end.
  ~JsonGateway();
  JsonGateway(const JsonGateway&) = delete;
  JsonGateway& operator=(const JsonGateway&) = delete;

  // Answers a request whose path starts with "/v1/".
  common::HttpResponse Handle(const common::HttpRequest& request);
  // Cancels the calls under way (their streams end with CANCELLED) and answers new ones 503.
  // Idempotent; safe from any thread. Call it before stopping the HTTP server, whose threads
  // may be streaming.
  void Shutdown();

 private:
  struct Method {
    const google::protobuf::MethodDescriptor* descriptor;
    std::shared_ptr<grpc::Channel> channel;
    std::string path;  // "/package.Service/Method", the gRPC method path
  };

  JsonGateway(GatewayOptions options) : options_(options) {}
  common::HttpResponse Call(const Method& method, const common::HttpRequest& request);
  // Adds `call` to those Shutdown cancels; false (and nothing added) once shut down.
  bool Register(const std::shared_ptr<GenericCall>& call);
  void Unregister(const std::shared_ptr<GenericCall>& call);

  const GatewayOptions options_;
  absl::flat_hash_map<std::string, Method> methods_;  // by "package.Service/Method"

  common::Mutex mu_;
  common::CondVar calls_ended_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<std::shared_ptr<GenericCall>> calls_ ABSL_GUARDED_BY(mu_);
  int live_calls_ ABSL_GUARDED_BY(mu_) = 0;  // GenericCall objects not yet destroyed
};

// The HTTP status for a gRPC status code (as grpc-gateway maps them).
int HttpStatusOf(grpc::StatusCode code);

}  // namespace cdnwarm::web
