#include "common/core/http_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <future>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/core/c_handle.h"
#include "common/core/log.h"

namespace cdnwarm::common {
namespace {

struct Listener {
  std::string numeric_host;  // "1.2.3.4" or "::1"; "0.0.0.0" for every interface
  int port = 0;
};

// The listener for `address`, its host resolved to a numeric address ("" = every IPv4
// interface).
absl::StatusOr<Listener> ResolveListener(absl::string_view address) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(address, &host, &port); !s.ok()) return s;
  if (host.empty()) return Listener{"0.0.0.0", port};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", address, "\": ", ::gai_strerror(rc)));
  }
  const CHandle<addrinfo, ::freeaddrinfo> owner(res);
  char text[INET6_ADDRSTRLEN] = {};
  if (res->ai_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(res->ai_addr)->sin6_addr, text,
                sizeof(text));
  } else {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(res->ai_addr)->sin_addr, text,
                sizeof(text));
  }
  return Listener{text, port};
}

class SinkWriter final : public HttpBodyWriter {
 public:
  explicit SinkWriter(httplib::DataSink& sink) : sink_(sink) {}
  bool Write(absl::string_view chunk) override {
    if (gone_) return false;
    if (chunk.empty()) return true;  // an empty chunk would end the body
    gone_ = !sink_.write(chunk.data(), chunk.size());
    return !gone_;
  }

 private:
  httplib::DataSink& sink_;
  bool gone_ = false;
};

std::string TooLarge(size_t limit) {
  return absl::StrCat("request body larger than ", limit, " bytes\n");
}

// Hands one request to `handler` and puts its answer into `out`.
void Dispatch(const HttpHandler& handler, const httplib::Request& in, httplib::Response& out) {
  HttpRequest request;
  request.method = in.method;
  request.path = in.path;
  if (const size_t q = in.target.find('?'); q != std::string::npos) {
    request.query = in.target.substr(q + 1);
  }
  for (const auto& [name, value] : in.headers) request.headers.emplace_back(name, value);
  request.body = in.body;
  request.remote_address = in.remote_addr;

  HttpResponse response = handler(request);
  out.status = response.status;
  for (const auto& [name, value] : response.headers) out.set_header(name, value);
  if (response.stream != nullptr && in.method != "HEAD") {
    out.set_chunked_content_provider(
        response.content_type,
        [stream = std::move(response.stream)](size_t /*offset*/, httplib::DataSink& sink) {
          SinkWriter writer(sink);
          stream(writer);
          sink.done();
          return true;
        });
  } else {
    out.set_content(std::move(response.body), response.content_type);
  }
}

}  // namespace

const std::string* HttpRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return &value;
  }
  return nullptr;
}

absl::Status SplitHostPort(absl::string_view address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", address, "\" has no port (want host:port)"));
  }
  absl::string_view h = address.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int p = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &p) || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", address, "\" has no valid port (0..65535)"));
  }
  *host = std::string(h);
  *port = p;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(absl::string_view address,
                                                              HttpHandler handler,
                                                              HttpServerOptions options) {
  absl::StatusOr<Listener> listener = ResolveListener(address);
  if (!listener.ok()) return listener.status();

  std::unique_ptr<HttpServer> server(new HttpServer());
  if (options.certificate != nullptr) {
    server->certificate_ = options.certificate;
    ServerCertificate* certificate = server->certificate_.get();
    absl::Status installed;  // the callback runs in the constructor, here
    auto https = std::make_unique<httplib::SSLServer>([certificate, &installed](SSL_CTX& ctx) {
      installed = certificate->Install(&ctx);
      return installed.ok();
    });
    if (!https->is_valid()) {
      return absl::InternalError(absl::StrCat("address \"", address, "\": cannot set up TLS",
                                              installed.ok() ? "" : ": ", installed.message()));
    }
    server->server_ = std::move(https);
  } else {
    server->server_ = std::make_unique<httplib::Server>();
  }
  httplib::Server& http = *server->server_;
  const size_t threads = static_cast<size_t>(std::max(1, options.threads));
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let a second
  // server share a port silently instead of failing to start.
  http.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  const auto timeout = absl::ToChronoMilliseconds(options.io_timeout);
  http.set_read_timeout(timeout);
  http.set_write_timeout(timeout);
  http.set_keep_alive_max_count(1);  // one request per connection: no idle thread held
  http.set_payload_max_length(options.max_body_bytes);
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [limit = options.max_body_bytes](const httplib::Request&, httplib::Response& res) {
        if (res.status == 413 && res.body.empty()) {
          res.set_content(TooLarge(limit), "text/plain; charset=utf-8");
          return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
      }));
  const auto serve = [handler = std::move(handler)](const httplib::Request& req,
                                                    httplib::Response& res) {
    Dispatch(handler, req, res);
  };
  http.Get(".*", serve);  // and HEAD
  http.Post(".*", serve);
  http.Put(".*", serve);
  http.Patch(".*", serve);
  http.Delete(".*", serve);
  http.Options(".*", serve);

  if (listener->port == 0) {
    server->port_ = http.bind_to_any_port(listener->numeric_host);
  } else if (http.bind_to_port(listener->numeric_host, listener->port)) {
    server->port_ = listener->port;
  }
  if (server->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("address \"", address,
                     "\": cannot listen; stop what listens there or choose another (port 0 picks "
                     "a free one)"));
  }
  // The socket listens from here on; the accept loop runs on its own thread.
  std::promise<void> finished;
  server->listener_done_ = finished.get_future();
  server->listener_ = std::thread([&http, finished = std::move(finished)]() mutable {
    http.listen_after_bind();
    finished.set_value();
  });
  return server;
}

HttpServer::~HttpServer() {
  if (!listener_.joinable()) return;
  // stop() acts only once the accept loop runs, which its thread starts a moment after
  // Start: ask again until the loop has returned. It then waits for its workers.
  do {
    server_->stop();
  } while (listener_done_.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready);
  listener_.join();
}

}  // namespace cdnwarm::common
