#pragma once

// An embedded HTTP/1.1 server on cpp-httplib (Debian's libcpp-httplib-dev): a pool of
// worker threads, each request handed to one handler function, over HTTPS when given a
// certificate. The admin port (/metrics, /healthz, /readyz) and the console are served by it.
//
// Why cpp-httplib and not civetweb: Debian 12's civetweb 1.15 opens OpenSSL 1.1 by name at
// run time and cannot start HTTPS against OpenSSL 3 (it looks for SSL_get_peer_certificate,
// which OpenSSL 3 no longer exports: civetweb issue #1334). cpp-httplib links OpenSSL 3,
// and its stop() needs no wake-up connection.

#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/core/tls.h"

namespace httplib {
class Server;
}

namespace cdnwarm::common {

struct HttpRequest {
  std::string method;  // "GET", "HEAD", ...
  std::string path;    // decoded, without the query string
  std::string query;   // after '?', raw; empty when none
  // Header names as the client sent them; compare with Header(), which ignores case.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;  // the client's IP address, as the connection shows it

  // The first header of that name (case-insensitive), if any.
  const std::string* Header(absl::string_view name) const;
};

// Writes a streamed response body, one chunk at a time, straight to the client.
class HttpBodyWriter {
 public:
  virtual ~HttpBodyWriter() = default;
  // False once the client has gone (write after that: no-op, false again).
  virtual bool Write(absl::string_view chunk) = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers{};  // extra headers
  // When set, the body is streamed (chunked transfer encoding) and `body` is ignored: the
  // headers go first, then `stream` writes until it returns, on the request's thread.
  std::function<void(HttpBodyWriter&)> stream{};
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  int threads = 2;                  // concurrent requests
  size_t max_body_bytes = 1 << 20;  // larger bodies are answered 413
  absl::Duration io_timeout = absl::Seconds(10);
  // When set, only HTTPS is served, with this certificate (re-read as it rotates).
  std::shared_ptr<ServerCertificate> certificate{};
};

class HttpServer {
 public:
  // Binds `address` ("host:port", "[v6]:port" or ":port"; port 0 picks a free one) and
  // starts serving. The handler runs on the server's threads, several at once.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(absl::string_view address,
                                                           HttpHandler handler,
                                                           HttpServerOptions options = {});
  // Stops accepting, waits for the requests being served (a stream must end first), and
  // returns.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

 private:
  HttpServer() = default;

  int port_ = 0;
  std::shared_ptr<ServerCertificate> certificate_;  // the TLS context's callback uses it
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;             // runs the accept loop; joined by the destructor
  std::future<void> listener_done_;  // ready when the accept loop and its workers are done
};

// Splits "host:port", "[v6]:port" or ":port" (host empty = all interfaces).
absl::Status SplitHostPort(absl::string_view address, std::string* host, int* port);

}  // namespace cdnwarm::common
