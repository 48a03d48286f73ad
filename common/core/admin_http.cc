#include "common/core/admin_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/core/log.h"

namespace cdnwarm::common {
namespace {

constexpr size_t kMaxRequestBytes = 8192;
constexpr int kIoTimeoutMs = 2000;

absl::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

void WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // The scraper went away; nothing to recover.
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string Errno(absl::string_view what) { return absl::StrCat(what, ": ", std::strerror(errno)); }

}  // namespace

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

HttpHandler AdminRoutes(const metrics::Registry& registry, const Readiness& readiness) {
  return [&registry, &readiness](absl::string_view path) {
    HttpResponse r;
    if (path == "/metrics") {
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = registry.Render();
    } else if (path == "/healthz") {
      r.body = "ok\n";
    } else if (path == "/readyz") {
      const std::vector<std::string> unmet = readiness.Unmet();
      if (unmet.empty()) {
        r.body = "ready\n";
      } else {
        r.status = 503;
        r.body = absl::StrCat("not ready: ", absl::StrJoin(unmet, ", "), "\n");
      }
    } else {
      r.status = 404;
      r.body = "not found; try /metrics, /healthz or /readyz\n";
    }
    return r;
  };
}

absl::StatusOr<std::unique_ptr<AdminHttpServer>> AdminHttpServer::Start(absl::string_view address,
                                                                        HttpHandler handler) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(address, &host, &port); !s.ok()) return s;

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin address \"", address, "\": ", ::gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> res_owner(res, &::freeaddrinfo);

  UniqueFd fd;
  std::string last_error = "no usable address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    UniqueFd candidate(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (!candidate.valid()) {
      last_error = Errno("socket");
      continue;
    }
    const int one = 1;
    ::setsockopt(candidate.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(candidate.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      last_error = Errno("bind");
      continue;
    }
    if (::listen(candidate.get(), 64) != 0) {
      last_error = Errno("listen");
      continue;
    }
    fd = std::move(candidate);
    break;
  }
  if (!fd.valid()) {
    return absl::UnavailableError(absl::StrCat("admin address \"", address, "\": ", last_error,
                                               "; stop what listens there or choose another "
                                               "--admin_address (port 0 picks a free one)"));
  }

  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return absl::InternalError(Errno("getsockname"));
  }
  const int bound_port = bound.ss_family == AF_INET6
                             ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                             : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return absl::InternalError(Errno("pipe2"));
  return std::unique_ptr<AdminHttpServer>(new AdminHttpServer(
      std::move(fd), UniqueFd(pipe_fds[0]), UniqueFd(pipe_fds[1]), bound_port, std::move(handler)));
}

AdminHttpServer::AdminHttpServer(UniqueFd listen_fd, UniqueFd wake_read, UniqueFd wake_write,
                                 int port, HttpHandler handler)
    : listen_fd_(std::move(listen_fd)),
      wake_read_(std::move(wake_read)),
      wake_write_(std::move(wake_write)),
      port_(port),
      handler_(std::move(handler)),
      thread_([this] { Serve(); }) {}

AdminHttpServer::~AdminHttpServer() {
  const char byte = 1;
  while (::write(wake_write_.get(), &byte, 1) < 0 && errno == EINTR) {
  }
  thread_.join();
}

void AdminHttpServer::Serve() {
  pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_read_.get(), POLLIN, 0}};
  while (true) {
    fds[0].revents = fds[1].revents = 0;
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log::Error("admin http: poll failed; admin port stops serving", {{"error", Errno("poll")}});
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents & POLLIN) {
      UniqueFd conn(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (conn.valid()) HandleConnection(conn.get());
    }
  }
}

void AdminHttpServer::HandleConnection(int fd) {
  const timeval tv{kIoTimeoutMs / 1000, (kIoTimeoutMs % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

  std::string request;
  char buf[2048];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < kMaxRequestBytes) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
  }

  HttpResponse response;
  bool head = false;
  const size_t eol = request.find("\r\n");
  const std::vector<absl::string_view> parts =
      absl::StrSplit(absl::string_view(request).substr(0, eol), ' ');
  if (eol == std::string::npos || parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.")) {
    response = {400, "text/plain; charset=utf-8", "bad request\n"};
  } else if (parts[0] != "GET" && parts[0] != "HEAD") {
    response = {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
  } else {
    head = parts[0] == "HEAD";
    absl::string_view path = parts[1];
    path = path.substr(0, path.find('?'));
    response = handler_(path);
  }

  std::string out =
      absl::StrCat("HTTP/1.1 ", response.status, " ", ReasonPhrase(response.status),
                   "\r\nContent-Type: ", response.content_type,
                   "\r\nContent-Length: ", response.body.size(), "\r\nConnection: close\r\n\r\n");
  if (!head) out += response.body;
  WriteAll(fd, out);
}

}  // namespace cdnwarm::common
