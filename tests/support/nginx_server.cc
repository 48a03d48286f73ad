#include "tests/support/nginx_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace cdnwarm::testing {

bool CanConnect(const std::string& host, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string WaitForFileToContain(const std::string& path, const std::string& needle,
                                 absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string text = ReadFile(path);
  while (text.find(needle) == std::string::npos && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));  // polling a condition with a deadline
    text = ReadFile(path);
  }
  return text;
}

namespace {

// Forks and execs `args` with stdout and stderr on the given descriptors. The child gets
// SIGKILL when the test dies (PR_SET_PDEATHSIG), so a crashed test leaves nothing behind.
absl::StatusOr<pid_t> SpawnChild(const std::vector<std::string>& args, int stdout_fd, int stderr_fd,
                                 int close_fd = -1) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    ::dup2(stdout_fd, STDOUT_FILENO);
    ::dup2(stderr_fd, STDERR_FILENO);
    if (close_fd >= 0) ::close(close_fd);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

void WriteFile(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

std::string MakeTempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(base != nullptr ? base : "/tmp", "/cdnwarm-", name, "-",
                                 ::getpid(), "-", absl::ToUnixNanos(absl::Now()));
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::all);
  return dir;
}

absl::StatusOr<std::unique_ptr<NginxServer>> NginxServer::Start(
    const std::string& root, const std::string& extra_server_conf, const std::string& listen_host,
    const std::string& extra_http_conf) {
  std::unique_ptr<NginxServer> s(new NginxServer());
  s->prefix_ = MakeTempDir("nginx");
  s->port_ = FreeLoopbackPort();
  s->host_ = listen_host;
  const std::string& p = s->prefix_;
  const std::string conf =
      absl::StrFormat(R"(daemon off;
master_process off;
pid %1$s/nginx.pid;
error_log %1$s/error.log info;
events { worker_connections 1024; }
http {
  access_log %1$s/access.log;
  client_body_temp_path %1$s/body;
  proxy_temp_path %1$s/proxy;
  fastcgi_temp_path %1$s/fastcgi;
  uwsgi_temp_path %1$s/uwsgi;
  scgi_temp_path %1$s/scgi;
  types { application/xml xml; application/gzip gz; application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  %6$s
  server {
    listen %5$s:%2$d;
    root %3$s;
    %4$s
  }
}
)",
                      p, s->port_, root, extra_server_conf, listen_host, extra_http_conf);
  WriteFile(p + "/nginx.conf", conf);
  const std::string conf_path = p + "/nginx.conf";
  const char* nginx = std::filesystem::exists("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
  const std::vector<std::string> args = {nginx, "-p", p, "-c", conf_path, "-e", p + "/error.log"};
  const int devnull = ::open("/dev/null", O_WRONLY);
  absl::StatusOr<pid_t> pid = SpawnChild(args, devnull, devnull);
  ::close(devnull);
  if (!pid.ok()) return absl::InternalError("cannot start nginx");
  s->pid_ = *pid;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!CanConnect(s->host_, s->port_)) {
    int status = 0;
    if (::waitpid(s->pid_, &status, WNOHANG) == s->pid_) {
      s->pid_ = -1;
      std::ifstream log(p + "/error.log");
      std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
      return absl::InternalError(absl::StrCat("nginx exited: ", text));
    }
    if (absl::Now() > deadline) return absl::DeadlineExceededError("nginx did not listen");
    absl::SleepFor(absl::Milliseconds(20));  // polling a condition with a deadline
  }
  return s;
}

absl::StatusOr<std::unique_ptr<NginxServer>> StartCachingEdge(int origin_port,
                                                              const std::string& host,
                                                              const std::string& name) {
  const std::string root = MakeTempDir("edge");
  return NginxServer::Start(
      root,
      absl::StrCat(R"(
    location / {
      proxy_pass http://127.0.0.1:)",
                   origin_port, R"(;
      proxy_cache edge;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      add_header X-Cache-Status $upstream_cache_status always;
      add_header X-Served-By )",
                   name, R"( always;
    })"),
      host, absl::StrCat("proxy_cache_path ", root, "/cache levels=1:2 keys_zone=edge:1m;"));
}

NginxServer::~NginxServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

std::string NginxServer::url(const std::string& path) const {
  return absl::StrCat("http://", host_, ":", port_, path);
}

std::string NginxServer::access_log() const { return ReadFile(prefix_ + "/access.log"); }

std::string NginxServer::WaitForAccessLog(const std::string& needle, absl::Duration timeout) const {
  return WaitForFileToContain(prefix_ + "/access.log", needle, timeout);
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& args, std::string* first_line) {
  int fds[2];
  if (::pipe(fds) != 0) return absl::InternalError("pipe failed");
  const int devnull = ::open("/dev/null", O_WRONLY);
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  absl::StatusOr<pid_t> pid = SpawnChild(args, fds[1], devnull, fds[0]);
  ::close(devnull);
  ::close(fds[1]);
  if (!pid.ok()) {
    ::close(fds[0]);
    return absl::InternalError(absl::StrCat("cannot start ", args[0]));
  }
  child->pid_ = *pid;
  first_line->clear();
  char c;
  while (::read(fds[0], &c, 1) == 1 && c != '\n') first_line->push_back(c);
  ::close(fds[0]);
  if (first_line->empty()) return absl::InternalError(absl::StrCat(args[0], " printed nothing"));
  return child;
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::StartLogged(
    const std::vector<std::string>& args, const std::string& log_path) {
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (log < 0) return absl::InternalError(absl::StrCat("cannot open ", log_path));
  absl::StatusOr<pid_t> pid = SpawnChild(args, log, log);
  ::close(log);
  if (!pid.ok()) return absl::InternalError(absl::StrCat("cannot start ", args[0]));
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  child->pid_ = *pid;
  return child;
}

void ChildProcess::Kill(int signal) {
  if (pid_ <= 0) return;
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

ChildProcess::~ChildProcess() { Kill(SIGTERM); }

absl::StatusOr<std::unique_ptr<ChildProcess>> StartTestOrigin(const std::string& python,
                                                              const std::string& script,
                                                              int* port) {
  std::string line;
  absl::StatusOr<std::unique_ptr<ChildProcess>> origin =
      ChildProcess::Start({python, script}, &line);
  if (!origin.ok()) return origin.status();
  if (line.rfind("PORT ", 0) != 0 || !absl::SimpleAtoi(line.substr(5), port)) {
    return absl::InternalError(absl::StrCat("test origin printed \"", line, "\", not PORT n"));
  }
  return origin;
}

}  // namespace cdnwarm::testing
