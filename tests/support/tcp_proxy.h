#pragma once

// A TCP proxy on loopback whose connections can be frozen: they stop carrying bytes both
// ways and stay open, as a path does when a node, NAT or load balancer silently drops it
// (a half-open connection). New connections after a freeze are carried normally.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "common/core/sync.h"

namespace cdnwarm::testing {

class FreezableProxy {
 public:
  explicit FreezableProxy(int target_port) : target_port_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(listen_fd_, 16);
    socklen_t len = sizeof(a);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~FreezableProxy() {
    stop_ = true;
    accept_thread_.join();
    common::MutexLock lock(&mu_);
    for (auto& t : pumps_) t.join();
    for (int fd : fds_) ::close(fd);
    ::close(listen_fd_);
  }
  FreezableProxy(const FreezableProxy&) = delete;
  FreezableProxy& operator=(const FreezableProxy&) = delete;

  int port() const { return port_; }
  // Connections made so far carry nothing more, in either direction, and stay open.
  void FreezeExisting() {
    common::MutexLock lock(&mu_);
    for (auto& f : frozen_) *f = true;
  }
  int connections() {
    common::MutexLock lock(&mu_);
    return static_cast<int>(frozen_.size());
  }

 private:
  static bool Readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 50) > 0;
  }
  void AcceptLoop() {
    while (!stop_) {
      if (!Readable(listen_fd_)) continue;
      const int in = ::accept(listen_fd_, nullptr, nullptr);
      if (in < 0) continue;
      const int out = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(target_port_));
      if (::connect(out, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(in);
        ::close(out);
        continue;
      }
      auto frozen = std::make_shared<std::atomic<bool>>(false);
      common::MutexLock lock(&mu_);
      fds_.push_back(in);
      fds_.push_back(out);
      frozen_.push_back(frozen);
      pumps_.emplace_back([this, in, out, frozen] { Pump(in, out, *frozen); });
      pumps_.emplace_back([this, in, out, frozen] { Pump(out, in, *frozen); });
    }
  }
  void Pump(int from, int to, const std::atomic<bool>& frozen) {
    char buf[16384];
    while (!stop_) {
      if (frozen || !Readable(from)) {
        if (frozen) ::usleep(50 * 1000);  // a dead path: read nothing, write nothing
        continue;
      }
      const ssize_t n = ::read(from, buf, sizeof(buf));
      if (n <= 0) {
        ::shutdown(to, SHUT_WR);
        return;
      }
      for (ssize_t done = 0; done < n;) {
        const ssize_t w = ::write(to, buf + done, static_cast<size_t>(n - done));
        if (w <= 0) return;
        done += w;
      }
    }
  }

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  common::Mutex mu_;
  std::vector<std::thread> pumps_;
  std::vector<int> fds_;
  std::vector<std::shared_ptr<std::atomic<bool>>> frozen_;
};

}  // namespace cdnwarm::testing
