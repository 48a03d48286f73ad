#include "common/web/json_gateway.h"

#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/core/contract.h"
#include "common/core/log.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/client_callback.h"

namespace cdnwarm::web {

namespace pb = google::protobuf;
using common::HttpRequest;
using common::HttpResponse;

// One call of any kind, driven from the HTTP request's thread: its request messages are
// written in order, then the thread takes the replies one at a time with Next() (the next
// read starts only once a reply was taken, so a slow HTTP client slows the call, never
// fills memory) and ends with Finish().
class GenericCall final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  // `on_gone` runs when the object is destroyed (on whichever thread drops it last).
  GenericCall(std::vector<grpc::ByteBuffer> requests, std::function<void()> on_gone)
      : requests_(std::move(requests)), on_gone_(std::move(on_gone)) {}
  ~GenericCall() override { on_gone_(); }

  grpc::ClientContext& context() { return context_; }

  void Start(const std::shared_ptr<GenericCall>& self, grpc::Channel& channel,
             const std::string& path) {
    self_ = self;  // until OnDone
    grpc::GenericStub stub(channel.shared_from_this());
    stub.PrepareBidiStreamingCall(&context_, path, grpc::StubOptions(), this);
    AddHold();  // Next() starts reads outside reactions: OnDone waits for RemoveHold
    if (requests_.empty()) {
      StartWritesDone();
    } else {
      StartWrite(&requests_[0]);
    }
    StartRead(&incoming_);
    StartCall();
  }

  enum class Got { kReply, kEnd, kTimeout };
  // The next reply; kEnd when there is none (then Finish() has the status); kTimeout when
  // none came by `deadline`.
  Got Next(grpc::ByteBuffer* reply, absl::Time deadline = absl::InfiniteFuture()) {
    reply->Clear();
    {
      common::MutexLock lock(&mu_);
      while (!has_reply_ && !reads_ended_) {
        if (changed_.WaitWithDeadline(&mu_, deadline) && !has_reply_ && !reads_ended_) {
          return Got::kTimeout;
        }
      }
      if (has_reply_) {
        has_reply_ = false;
        *reply = std::move(incoming_);
      }
    }
    if (reply->Valid()) {
      StartRead(&incoming_);
      return Got::kReply;
    }
    Release();
    return Got::kEnd;
  }

  grpc::Status Finish() {
    Release();
    common::MutexLock lock(&mu_);
    while (!done_) changed_.Wait(&mu_);
    return status_;
  }

  void Cancel() { context_.TryCancel(); }

  void OnWriteDone(bool ok) override {
    if (!ok) return;  // the call is over; its status says why
    if (++next_ < requests_.size()) {
      StartWrite(&requests_[next_]);
    } else {
      StartWritesDone();
    }
  }
  void OnReadDone(bool ok) override {
    common::MutexLock lock(&mu_);
    (ok ? has_reply_ : reads_ended_) = true;
    changed_.SignalAll();
  }
  void OnDone(const grpc::Status& status) override {
    std::shared_ptr<GenericCall> keep = std::move(self_);  // this outlives the signal
    common::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
    changed_.SignalAll();
  }

 private:
  void Release() {
    if (!released_.exchange(true)) RemoveHold();
  }

  grpc::ClientContext context_;
  std::vector<grpc::ByteBuffer> requests_;
  size_t next_ = 0;            // reactions only: they run one at a time
  grpc::ByteBuffer incoming_;  // the read under way; taken by Next() once it is done
  std::atomic<bool> released_{false};
  std::shared_ptr<GenericCall> self_;
  const std::function<void()> on_gone_;

  common::Mutex mu_;
  common::CondVar changed_;
  bool has_reply_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_ended_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

namespace {

constexpr absl::string_view kJson = "application/json";

// gRPC's and absl's codes are the same numbers, and so the same names.
std::string CodeName(grpc::StatusCode code) {
  const int n = static_cast<int>(code);
  return n >= 0 && n <= 16 ? absl::StatusCodeToString(static_cast<absl::StatusCode>(n)) : "UNKNOWN";
}

// {"code":3,"status":"INVALID_ARGUMENT","message":"..."}, in that order; the message is a
// JSON string as protobuf's printer writes it.
std::string StatusJson(grpc::StatusCode code, absl::string_view message) {
  pb::Value text;
  text.set_string_value(std::string(message));
  std::string quoted;
  (void)pb::util::MessageToJsonString(text, &quoted);
  return absl::StrCat("{\"code\":", static_cast<int>(code), ",\"status\":\"", CodeName(code),
                      "\",\"message\":", quoted, "}");
}

HttpResponse Error(grpc::StatusCode code, absl::string_view message) {
  HttpResponse r;
  r.status = HttpStatusOf(code);
  r.content_type = std::string(kJson);
  r.body = StatusJson(code, message);
  return r;
}

HttpResponse HttpError(int http_status, grpc::StatusCode code, absl::string_view message) {
  HttpResponse r = Error(code, message);
  r.status = http_status;
  return r;
}

// `json` (one message) parsed into `type` and serialised for the wire.
absl::StatusOr<grpc::ByteBuffer> ToWire(const pb::Descriptor* type, absl::string_view json) {
  std::unique_ptr<pb::Message> message(
      pb::MessageFactory::generated_factory()->GetPrototype(type)->New());
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  if (auto s = pb::util::JsonStringToMessage(std::string(json), message.get(), options); !s.ok()) {
    return absl::InvalidArgumentError(s.message().ToString());
  }
  const std::string bytes = message->SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// A reply from the wire printed as canonical JSON.
absl::StatusOr<std::string> ToJson(const pb::Descriptor* type, const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return absl::InternalError("unreadable reply");
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  std::unique_ptr<pb::Message> message(
      pb::MessageFactory::generated_factory()->GetPrototype(type)->New());
  if (!message->ParseFromString(bytes)) {
    return absl::InternalError(absl::StrCat("reply is not a ", type->full_name()));
  }
  std::string json;
  if (auto s = pb::util::MessageToJsonString(*message, &json); !s.ok()) {
    return absl::InternalError(s.message().ToString());
  }
  return json;
}

// The request messages of `body`: one JSON object, or for a client-streaming method a JSON
// array of them. Errors name the entry (from 0) that was wrong.
absl::StatusOr<std::vector<grpc::ByteBuffer>> Requests(const pb::MethodDescriptor& method,
                                                       const std::string& body,
                                                       size_t max_messages) {
  std::vector<grpc::ByteBuffer> out;
  if (!method.client_streaming()) {
    absl::StatusOr<grpc::ByteBuffer> one = ToWire(method.input_type(), body);
    if (!one.ok()) return one.status();
    out.push_back(*std::move(one));
    return out;
  }
  pb::ListValue list;
  if (auto s = pb::util::JsonStringToMessage(body, &list); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(method.name(), " takes a JSON array of ",
                                                   method.input_type()->name(),
                                                   " messages: ", s.message().ToString()));
  }
  if (static_cast<size_t>(list.values_size()) > max_messages) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the array has ", list.values_size(), " entries; at most ", max_messages, " are taken"));
  }
  out.reserve(list.values_size());
  for (int i = 0; i < list.values_size(); ++i) {
    std::string json;
    (void)pb::util::MessageToJsonString(list.values(i), &json);
    absl::StatusOr<grpc::ByteBuffer> one = ToWire(method.input_type(), json);
    if (!one.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("entry ", i, ": ", one.status().message()));
    }
    out.push_back(*std::move(one));
  }
  return out;
}

bool PrintableAscii(absl::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

int HttpStatusOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::CANCELLED:
      return 503;  // the console's drain ended it (HTTP has no status for it)
    case grpc::StatusCode::INVALID_ARGUMENT:
      return 400;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
      return 409;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return 400;
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    default:
      return 500;  // UNKNOWN, INTERNAL, DATA_LOSS
  }
}

absl::StatusOr<std::unique_ptr<JsonGateway>> JsonGateway::Create(std::vector<GatewayRoute> routes,
                                                                 GatewayOptions options) {
  std::unique_ptr<JsonGateway> gateway(new JsonGateway(options));
  for (GatewayRoute& route : routes) {
    const pb::ServiceDescriptor* service =
        pb::DescriptorPool::generated_pool()->FindServiceByName(route.service);
    if (service == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("service ", route.service, " is not among the linked contracts"));
    }
    std::vector<std::string> names = route.methods;
    if (names.empty()) {
      for (int i = 0; i < service->method_count(); ++i) names.push_back(service->method(i)->name());
    }
    for (const std::string& name : names) {
      const pb::MethodDescriptor* method = service->FindMethodByName(name);
      if (method == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("service ", route.service, " has no method ", name));
      }
      if (method->client_streaming() && method->server_streaming()) {
        return absl::InvalidArgumentError(absl::StrCat(
            route.service, ".", name, " streams both ways, which HTTP/1.1 cannot carry"));
      }
      gateway->methods_[absl::StrCat(route.service, "/", name)] =
          Method{method, route.channel, absl::StrCat("/", route.service, "/", name)};
    }
  }
  return gateway;
}

JsonGateway::~JsonGateway() {
  Shutdown();
  // Every call object too, which the last gRPC callback may drop after the HTTP thread left:
  // it holds the channel, whose server may go next.
  common::MutexLock lock(&mu_);
  while (!calls_.empty() || live_calls_ > 0) calls_ended_.Wait(&mu_);
}

void JsonGateway::Shutdown() {
  std::vector<std::shared_ptr<GenericCall>> calls;
  {
    common::MutexLock lock(&mu_);
    shut_down_ = true;
    calls.assign(calls_.begin(), calls_.end());
  }
  for (const auto& call : calls) call->Cancel();
}

bool JsonGateway::Register(const std::shared_ptr<GenericCall>& call) {
  common::MutexLock lock(&mu_);
  if (shut_down_) return false;
  calls_.insert(call);
  return true;
}

void JsonGateway::Unregister(const std::shared_ptr<GenericCall>& call) {
  common::MutexLock lock(&mu_);
  calls_.erase(call);
  calls_ended_.SignalAll();
}

HttpResponse JsonGateway::Handle(const HttpRequest& request) {
  const absl::string_view name = absl::StripPrefix(request.path, "/v1/");
  const auto it = methods_.find(name);
  if (!absl::StartsWith(request.path, "/v1/") || it == methods_.end()) {
    return HttpError(
        404, grpc::StatusCode::NOT_FOUND,
        absl::StrCat("no method at ", request.path, " (want /v1/<package.Service>/<Method>)"));
  }
  if (request.method != "POST") {
    HttpResponse r =
        HttpError(405, grpc::StatusCode::UNIMPLEMENTED, absl::StrCat(request.path, " takes POST"));
    r.headers.emplace_back("Allow", "POST");
    return r;
  }
  // A JSON body also means a cross-origin page cannot send it without a CORS preflight,
  // which nothing here answers.
  const std::string* type = request.Header("Content-Type");
  if (type == nullptr || !absl::StartsWithIgnoreCase(*type, kJson)) {
    return HttpError(415, grpc::StatusCode::INVALID_ARGUMENT,
                     "Content-Type must be application/json");
  }
  return Call(it->second, request);
}

HttpResponse JsonGateway::Call(const Method& method, const HttpRequest& request) {
  const pb::MethodDescriptor& d = *method.descriptor;
  absl::StatusOr<std::vector<grpc::ByteBuffer>> messages =
      Requests(d, request.body, options_.max_batch_messages);
  if (!messages.ok()) return Error(grpc::StatusCode::INVALID_ARGUMENT, messages.status().message());

  {
    common::MutexLock lock(&mu_);
    ++live_calls_;
  }
  auto call = std::make_shared<GenericCall>(*std::move(messages), [this] {
    common::MutexLock lock(&mu_);
    --live_calls_;
    calls_ended_.SignalAll();
  });
  if (const std::string* auth = request.Header("Authorization"); auth != nullptr) {
    if (!PrintableAscii(*auth)) {
      return Error(grpc::StatusCode::UNAUTHENTICATED,
                   "the Authorization header is not printable ASCII");
    }
    call->context().AddMetadata("authorization", *auth);
  }
  // Every browser reaches the producer as the same in-process peer: say which one this is,
  // so each has its own client-rate bucket.
  if (!request.remote_address.empty()) {
    call->context().AddMetadata(common::kConsoleClientMetadata, request.remote_address);
  }
  if (!d.server_streaming()) {
    call->context().set_deadline(absl::ToChronoTime(absl::Now() + options_.unary_deadline));
  }
  if (!Register(call)) return Error(grpc::StatusCode::UNAVAILABLE, "the console is shutting down");
  call->Start(call, *method.channel, method.path);

  grpc::ByteBuffer first;
  const bool has_first = call->Next(&first) == GenericCall::Got::kReply;
  if (!has_first || !d.server_streaming()) {
    const grpc::Status status = call->Finish();
    Unregister(call);
    if (!status.ok()) return Error(status.error_code(), status.error_message());
    if (!has_first) return Error(grpc::StatusCode::INTERNAL, "the call ended OK without a reply");
    absl::StatusOr<std::string> json = ToJson(d.output_type(), first);
    if (!json.ok()) return Error(grpc::StatusCode::INTERNAL, json.status().message());
    HttpResponse r;
    r.content_type = std::string(kJson);
    r.body = *std::move(json);
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  }

  // Server streaming: Server-Sent Events from here on.
  HttpResponse r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-store");
  r.stream = [this, call, output = d.output_type(),
              first = std::move(first)](common::HttpBodyWriter& out) mutable {
    grpc::ByteBuffer reply = std::move(first);
    GenericCall::Got got = GenericCall::Got::kReply;
    while (got != GenericCall::Got::kEnd) {
      std::string event;  // a comment line when nothing came: it finds a client gone
      if (got == GenericCall::Got::kReply) {
        absl::StatusOr<std::string> json = ToJson(output, reply);
        if (!json.ok()) {
          call->Cancel();
          break;
        }
        event = absl::StrCat("data: ", *json, "\n\n");
      } else {
        event = ":\n\n";
      }
      if (!out.Write(event)) {
        call->Cancel();  // the client has gone
        break;
      }
      reply.Clear();
      got = call->Next(&reply, absl::Now() + options_.heartbeat);
    }
    while (call->Next(&reply) == GenericCall::Got::kReply) reply.Clear();  // after a cancel
    const grpc::Status status = call->Finish();
    Unregister(call);
    out.Write(absl::StrCat(
        "event: status\ndata: ", StatusJson(status.error_code(), status.error_message()), "\n\n"));
  };
  return r;
}

}  // namespace cdnwarm::web
