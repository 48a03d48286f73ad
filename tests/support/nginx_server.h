#pragma once

// A real nginx on loopback for tests: a static file server (the origin of sitemaps and
// playlists), or any server block a test writes. Started in its own prefix directory,
// stopped by the destructor.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace cdnwarm::testing {

class NginxServer {
 public:
  // Serves `root` on `listen_host` at a free port. `extra_server_conf` is added inside the
  // server block (locations, headers), `extra_http_conf` in the http block (cache paths).
  static absl::StatusOr<std::unique_ptr<NginxServer>> Start(
      const std::string& root, const std::string& extra_server_conf = "",
      const std::string& listen_host = "127.0.0.1", const std::string& extra_http_conf = "");
  ~NginxServer();

  int port() const { return port_; }
  std::string url(const std::string& path) const;
  std::string access_log() const;
  // The access log once it contains `needle` (nginx writes a line after answering), or as
  // it is when `timeout` passes.
  std::string WaitForAccessLog(const std::string& needle,
                               absl::Duration timeout = absl::Seconds(10)) const;
  const std::string& prefix() const { return prefix_; }

 private:
  NginxServer() = default;
  std::string prefix_;
  std::string host_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A caching edge in front of 127.0.0.1:origin_port, as the mesh's edges are: proxy_cache
// with X-Cache-Status and X-Served-By `name`, listening on `host`.
absl::StatusOr<std::unique_ptr<NginxServer>> StartCachingEdge(int origin_port,
                                                              const std::string& host = "127.0.0.1",
                                                              const std::string& name = "edge");

// A child process started for a test and killed by the destructor.
class ChildProcess {
 public:
  // Starts argv; returns the first line it prints on stdout (e.g. "PORT 4711").
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                             std::string* first_line);
  // Starts argv with stdout and stderr going to `log_path`.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> StartLogged(
      const std::vector<std::string>& argv, const std::string& log_path);
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Sends `signal` and reaps the process.
  void Kill(int signal);

 private:
  pid_t pid_ = -1;
};

// Starts tests/support/test_origin.py (`script`) with `python`; sets `port` from the
// "PORT n" line it prints once listening.
absl::StatusOr<std::unique_ptr<ChildProcess>> StartTestOrigin(const std::string& python,
                                                              const std::string& script, int* port);

// True when a TCP connect to host:port succeeds now.
bool CanConnect(const std::string& host, int port);

// The whole file; empty when it does not exist.
std::string ReadFile(const std::string& path);

// The file once it contains `needle`, or as it is when `timeout` passes.
std::string WaitForFileToContain(const std::string& path, const std::string& needle,
                                 absl::Duration timeout);

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
int FreeLoopbackPort();

// Writes `content` to `path`, creating parent directories.
void WriteFile(const std::string& path, const std::string& content);

// A new empty directory under the test's temporary directory.
std::string MakeTempDir(const std::string& name);

}  // namespace cdnwarm::testing
