#pragma once

// Warms one task: one GET per request variant (and a verify GET after any answer that was
// not a HIT), each classified by cache status and outcome policy, combined into the task's
// result and the ack the bridge gets. The worst variant's outcome is the task's.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cdnwarm/v1/bridge.pb.h"
#include "cdnwarm/v1/common.pb.h"
#include "common/core/clock.h"
#include "common/fetch/ssrf_guard.h"
#include "warmer/http_engine.h"

namespace cdnwarm::warmer {

// Which URLs an edge pin (--edge_pins) sends to the region's edge: `host` (lower case,
// IPv6 in brackets) and `port`, where empty and 0 mean any.
struct EdgePin {
  std::string host;
  int port = 0;
  bool Covers(const std::string& url_host, int url_port) const {
    return (host.empty() || host == url_host) && (port == 0 || port == url_port);
  }
};

struct TaskWarmerOptions {
  std::string region = "";
  std::string warmer_id = "";
  // After a variant's answer that was not a HIT (MISS, STALE, EXPIRED, or no cache
  // information), GET it again: only a HIT then proves it warm (cache_after).
  bool verify = true;
  // With pins, a URL whose host:port no pin covers is FAILED naming the host, not fetched
  // wherever DNS points (which may not be this region's edge), unless allow_unpinned.
  std::vector<EdgePin> edge_pins = {};
  bool allow_unpinned = false;
  // Where "now" comes from: finished_at and Retry-After dates (tests: FakeClock).
  const common::Clock* clock = &common::Clock::Real();
};

struct WarmOutcome {
  cdnwarm::v1::AckOutcome ack = cdnwarm::v1::ACK_OUTCOME_FAILED;
  cdnwarm::v1::WarmResult result;
  absl::Duration retry_delay;  // ACK_OUTCOME_RETRY only
};

class TaskWarmer {
 public:
  TaskWarmer(HttpEngine& engine, const common::FetchGuard& guard, TaskWarmerOptions options)
      : engine_(engine), guard_(guard), options_(std::move(options)) {}

  // `done` runs once, on the engine thread (or at once for a task refused up front).
  // `verify` overrides the configured verify setting for this task.
  void Warm(const cdnwarm::v1::WarmTask& task, uint32_t attempt,
            std::function<void(WarmOutcome)> done, std::optional<bool> verify = std::nullopt);

 private:
  HttpEngine& engine_;
  const common::FetchGuard& guard_;
  const TaskWarmerOptions options_;
};

}  // namespace cdnwarm::warmer
