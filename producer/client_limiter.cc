#include "producer/client_limiter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/core/contract.h"
#include "common/core/sync.h"
#include "grpc/grpc_security_constants.h"

namespace cdnwarm::producer {

std::string ClientIdentity(const grpc::ServerContextBase& ctx) {
  // The console's calls come over the in-process channel and name the browser. Only an
  // in-process caller may name a client (a remote one could pick any bucket): every network
  // transport, plaintext included, gives its calls a transport security type; the
  // in-process one gives none.
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  const bool in_process =
      auth == nullptr ||
      auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME).empty();
  if (in_process) {
    const auto& metadata = ctx.client_metadata();
    if (auto it = metadata.find(common::kConsoleClientMetadata); it != metadata.end()) {
      return absl::StrCat("console:", absl::string_view(it->second.data(), it->second.size()));
    }
  }
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const grpc::string_ref& cn : auth->FindPropertyValues("x509_common_name")) {
      return absl::StrCat("cn:", absl::string_view(cn.data(), cn.size()));
    }
  }
  // "ipv4:10.0.0.1:5000", "ipv6:%5B::1%5D:5000" (URI-escaped brackets): the address
  // without the port.
  const std::string full_peer = absl::StrReplaceAll(ctx.peer(), {{"%5B", "["}, {"%5D", "]"}});
  absl::string_view peer = full_peer;
  if (size_t colon = peer.find(':'); colon != absl::string_view::npos) {
    peer.remove_prefix(colon + 1);
  }
  if (!peer.empty() && peer.front() == '[') {
    if (size_t close = peer.find(']'); close != absl::string_view::npos) {
      peer = peer.substr(0, close + 1);
    }
  } else if (size_t port = peer.rfind(':'); port != absl::string_view::npos) {
    peer = peer.substr(0, port);
  }
  return absl::StrCat("ip:", peer);
}

ClientRateLimiter::ClientRateLimiter(double rate, double burst, size_t max_clients)
    : rate_(rate), burst_(std::max(burst, 1.0)), max_clients_(max_clients) {}

ClientRateLimiter::Bucket& ClientRateLimiter::Refill(const std::string& client, absl::Time now) {
  auto [it, added] = buckets_.try_emplace(client, Bucket{.tokens = burst_, .updated = now});
  Bucket& b = it->second;
  if (!added && now > b.updated) {
    b.tokens = std::min(burst_, b.tokens + absl::ToDoubleSeconds(now - b.updated) * rate_);
    b.updated = now;
  }
  if (added && buckets_.size() > max_clients_) ForgetIdle(now);
  return buckets_.find(client)->second;
}

void ClientRateLimiter::ForgetIdle(absl::Time now) {
  // A bucket that would be full again holds no state worth keeping.
  const absl::Duration refill = absl::Seconds(burst_ / rate_);
  absl::erase_if(buckets_, [&](const auto& entry) {
    const Bucket& b = entry.second;
    return now - b.updated >= refill && b.tokens >= 0;
  });
}

absl::Status ClientRateLimiter::TryTake(const std::string& client, double n, absl::Time now) {
  if (!enabled()) return absl::OkStatus();
  common::MutexLock lock(&mu_);
  Bucket& b = Refill(client, now);
  if (b.tokens >= n) {
    b.tokens -= n;
    return absl::OkStatus();
  }
  const double wait = (n - b.tokens) / rate_;
  return absl::ResourceExhaustedError(
      absl::StrFormat("rate limit: client %s may send %g URLs/s (burst %g); retry in %.2fs", client,
                      rate_, burst_, wait));
}

absl::Duration ClientRateLimiter::Take(const std::string& client, double n, absl::Time now) {
  if (!enabled()) return absl::ZeroDuration();
  common::MutexLock lock(&mu_);
  Bucket& b = Refill(client, now);
  b.tokens -= n;
  return b.tokens >= 0 ? absl::ZeroDuration() : absl::Seconds(-b.tokens / rate_);
}

}  // namespace cdnwarm::producer
