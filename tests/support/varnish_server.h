#pragma once

// A real Varnish Cache on loopback for tests: varnishd in front of one backend with
// Varnish's built-in VCL (it caches what the backend calls cacheable and answers with
// X-Varnish and Age, no X-Cache), and varnishncsa writing its access log. Started in its
// own working directory, stopped by the destructor.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/nginx_server.h"

namespace cdnwarm::testing {

class VarnishServer {
 public:
  // Listens on `listen_host` at a free port and forwards misses to 127.0.0.1:backend_port.
  // `vcl`, when not empty, replaces the built-in `-b` backend: it is written to a file and
  // loaded with -f (it must declare the backend itself).
  static absl::StatusOr<std::unique_ptr<VarnishServer>> Start(int backend_port,
                                                              const std::string& listen_host,
                                                              const std::string& vcl = "");
  ~VarnishServer();

  int port() const { return port_; }
  std::string url(const std::string& path) const;
  // varnishncsa's log: one line per client request, `"GET /path HTTP/1.1" status hit|miss`.
  std::string access_log() const;
  // The access log once it contains `needle`, or as it is when `timeout` passes.
  std::string WaitForAccessLog(const std::string& needle,
                               absl::Duration timeout = absl::Seconds(10)) const;

 private:
  VarnishServer() = default;
  std::string dir_;
  std::string host_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> varnishd_;
  std::unique_ptr<ChildProcess> ncsa_;
};

}  // namespace cdnwarm::testing
