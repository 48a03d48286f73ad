#pragma once

// The web console's HTTP port: the built front end (console/, read from a folder at start)
// and the JSON API (json_gateway.h) under /v1/, on one origin. Every answer carries a
// Content-Security-Policy that allows only that origin and no inline script or style.
// A path that is not a file and not under /v1/ is answered with index.html, so the
// console's own paths (/jobs/<id>) survive a reload.

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/core/http_server.h"
#include "common/web/json_gateway.h"

namespace cdnwarm::web {

struct ConsoleOptions {
  std::string address{};    // "host:port"; port 0 picks a free one
  std::string files_dir{};  // the front end's build output (index.html and assets/)
  std::vector<GatewayRoute> routes{};
  GatewayOptions gateway{};
  int threads = 16;  // each open job view holds one while it streams
  size_t max_body_bytes = 16 << 20;
  // When set, HTTPS only (the service's --tls_cert_file and --tls_key_file).
  std::shared_ptr<common::ServerCertificate> certificate{};
};

// The security headers every answer carries.
std::vector<std::pair<std::string, std::string>> ConsoleSecurityHeaders();

class ConsoleServer {
 public:
  // Reads the files, then listens. Errors name the folder or address that failed.
  static absl::StatusOr<std::unique_ptr<ConsoleServer>> Start(ConsoleOptions options);
  // Ends the streams under way, then stops serving.
  ~ConsoleServer();

  int port() const { return http_->port(); }
  // Ends the API's calls under way (a drain); the files are still served.
  void Shutdown() { gateway_->Shutdown(); }

 private:
  struct File {
    std::string content_type;
    std::string body;
  };
  ConsoleServer() = default;
  common::HttpResponse Serve(const common::HttpRequest& request) const;

  absl::flat_hash_map<std::string, File> files_;  // by URL path, "/index.html"
  std::unique_ptr<JsonGateway> gateway_;
  std::unique_ptr<common::HttpServer> http_;  // last: stopped first
};

}  // namespace cdnwarm::web
