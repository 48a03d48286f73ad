#include "common/core/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/core/log.h"
#include "common/core/unique_fd.h"

namespace cdnwarm::common {
namespace {

struct Listener {
  std::string numeric_host;  // "1.2.3.4" or "::1"; "0.0.0.0" for every interface
  int port = 0;
  // civetweb's address syntax for it: "1.2.3.4:80" or "[::1]:80".
  std::string Civetweb() const {
    return absl::StrContains(numeric_host, ':') ? absl::StrCat("[", numeric_host, "]:", port)
                                                : absl::StrCat(numeric_host, ":", port);
  }
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

class ChunkWriter final : public HttpBodyWriter {
 public:
  explicit ChunkWriter(mg_connection* conn) : conn_(conn) {}
  bool Write(absl::string_view chunk) override {
    if (gone_) return false;
    if (chunk.empty()) return true;  // an empty chunk would end the body
    gone_ = mg_send_chunk(conn_, chunk.data(), static_cast<unsigned>(chunk.size())) <= 0;
    return !gone_;
  }
  void End() {
    if (!gone_) mg_send_chunk(conn_, "", 0);
  }

 private:
  mg_connection* const conn_;
  bool gone_ = false;
};

int LogMessage(const mg_connection* /*conn*/, const char* message) {
  log::Warn("http server", {{"message", message}});
  return 1;  // handled: civetweb writes nothing itself
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
  const std::string listening = listener->Civetweb();
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });

  std::unique_ptr<HttpServer> server(new HttpServer(std::move(handler), options));
  const std::string threads = std::to_string(options.threads);
  const std::string timeout = std::to_string(absl::ToInt64Milliseconds(options.io_timeout));
  const char* config[] = {"listening_ports",
                          listening.c_str(),  //
                          "num_threads",
                          threads.c_str(),  //
                          "request_timeout_ms",
                          timeout.c_str(),  //
                          "enable_keep_alive",
                          "no",  //
                          "keep_alive_timeout_ms",
                          timeout.c_str(),
                          nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = LogMessage;
  mg_init_data init_data{};
  init_data.callbacks = &callbacks;
  init_data.user_data = server.get();
  init_data.configuration_options = config;
  char error_text[256] = {};
  unsigned error_code = 0;
  mg_error_data error{};
  error.code = &error_code;
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);
  server->context_.reset(mg_start2(&init_data, &error));
  if (server->context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "address \"", address, "\": ", error_text[0] != '\0' ? error_text : "cannot listen",
        "; stop what listens there or choose another (port 0 picks a free one)"));
  }
  mg_server_port ports[1] = {};
  if (mg_get_server_ports(server->context_.get(), 1, ports) != 1) {
    return absl::InternalError(absl::StrCat("address \"", address, "\": no listening port"));
  }
  server->port_ = ports[0].port;
  if (listener->numeric_host == "0.0.0.0") {
    server->knock_host_ = "127.0.0.1";
  } else if (listener->numeric_host == "::") {
    server->knock_host_ = "::1";
  } else {
    server->knock_host_ = listener->numeric_host;
  }
  mg_set_request_handler(server->context_.get(), "/", &HttpServer::Serve, server.get());
  return server;
}

HttpServer::~HttpServer() {
  if (context_ == nullptr) return;
  // mg_stop waits for civetweb's accept loop, which looks at its stop flag only between
  // polls of up to 2 s. A connection to our own listener ends that poll at once; knock
  // until mg_stop has returned (a knock before the flag is an empty, harmless request).
  std::atomic<bool> stopped{false};
  std::thread knocker([this, &stopped] {
    while (!stopped.load()) {
      Knock();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  context_.reset();  // mg_stop
  stopped = true;
  knocker.join();
}

void HttpServer::Knock() const {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(port_);
  if (::getaddrinfo(knock_host_.c_str(), port.c_str(), &hints, &res) != 0) return;
  const CHandle<addrinfo, ::freeaddrinfo> owner(res);
  const UniqueFd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.valid()) (void)::connect(fd.get(), res->ai_addr, res->ai_addrlen);
}

int HttpServer::Serve(mg_connection* conn, void* self_ptr) {
  const auto& self = *static_cast<const HttpServer*>(self_ptr);
  const mg_request_info* info = mg_get_request_info(conn);
  HttpRequest request;
  request.method = info->request_method != nullptr ? info->request_method : "";
  request.path = info->local_uri != nullptr ? info->local_uri : "";
  request.query = info->query_string != nullptr ? info->query_string : "";
  for (int i = 0; i < info->num_headers; ++i) {
    request.headers.emplace_back(info->http_headers[i].name, info->http_headers[i].value);
  }

  HttpResponse response;
  if (info->content_length > static_cast<long long>(self.options_.max_body_bytes)) {
    response = {413,
                "text/plain; charset=utf-8",
                absl::StrCat("request body larger than ", self.options_.max_body_bytes, " bytes\n"),
                {},
                nullptr};
  } else {
    char buf[8192];
    int n = 0;
    while ((n = mg_read(conn, buf, sizeof(buf))) > 0) {
      request.body.append(buf, static_cast<size_t>(n));
      if (request.body.size() > self.options_.max_body_bytes) break;
    }
    if (request.body.size() > self.options_.max_body_bytes) {
      response = {
          413,
          "text/plain; charset=utf-8",
          absl::StrCat("request body larger than ", self.options_.max_body_bytes, " bytes\n"),
          {},
          nullptr};
    } else {
      response = self.handler_(request);
    }
  }

  mg_response_header_start(conn, response.status);
  mg_response_header_add(conn, "Content-Type", response.content_type.c_str(), -1);
  const bool streamed = response.stream != nullptr && request.method != "HEAD";
  if (streamed) {
    mg_response_header_add(conn, "Transfer-Encoding", "chunked", -1);
  } else {
    const std::string length = std::to_string(response.body.size());
    mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  }
  for (const auto& [name, value] : response.headers) {
    mg_response_header_add(conn, name.c_str(), value.c_str(), -1);
  }
  mg_response_header_send(conn);
  if (streamed) {
    ChunkWriter writer(conn);
    response.stream(writer);
    writer.End();
  } else if (request.method != "HEAD" && !response.body.empty()) {
    mg_write(conn, response.body.data(), response.body.size());
  }
  return response.status;  // > 0: handled
}

}  // namespace cdnwarm::common
