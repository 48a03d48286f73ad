#pragma once

// The admin HTTP port: /metrics (Prometheus text format), /healthz (the process is
// alive) and /readyz (every readiness condition holds). A deliberately tiny HTTP/1.1
// server, one connection at a time on its own thread: scrapes and probes are rare and
// small, and nothing here may compete with the data path.

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/core/metrics.h"
#include "common/core/readiness.h"
#include "common/core/unique_fd.h"

namespace cdnwarm::common {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Maps a request path (query string removed) to a response.
using HttpHandler = std::function<HttpResponse(absl::string_view path)>;

// The standard routes over a registry and a readiness set.
HttpHandler AdminRoutes(const metrics::Registry& registry, const Readiness& readiness);

class AdminHttpServer {
 public:
  // Binds `address` ("host:port", "[v6]:port" or ":port"; port 0 picks a free one) and
  // starts serving.
  static absl::StatusOr<std::unique_ptr<AdminHttpServer>> Start(absl::string_view address,
                                                                HttpHandler handler);
  ~AdminHttpServer();
  AdminHttpServer(const AdminHttpServer&) = delete;
  AdminHttpServer& operator=(const AdminHttpServer&) = delete;

  int port() const { return port_; }

 private:
  AdminHttpServer(UniqueFd listen_fd, UniqueFd wake_read, UniqueFd wake_write, int port,
                  HttpHandler handler);
  void Serve();
  void HandleConnection(int fd);

  const UniqueFd listen_fd_;
  const UniqueFd wake_read_;  // becomes readable when the server stops
  const UniqueFd wake_write_;
  const int port_;
  const HttpHandler handler_;
  std::thread thread_;
};

// Splits "host:port", "[v6]:port" or ":port" (host empty = all interfaces).
absl::Status SplitHostPort(absl::string_view address, std::string* host, int* port);

}  // namespace cdnwarm::common
