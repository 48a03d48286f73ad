#pragma once

// Warms one task: one GET per request variant (and a verify GET after any answer that was
// not a HIT), each classified by cache status and outcome policy, combined into the task's
// result and the ack the bridge gets. The worst variant's outcome is the task's.

#include <functional>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "cdnwarm/v1/bridge.pb.h"
#include "cdnwarm/v1/common.pb.h"
#include "common/ssrf_guard.h"
#include "warmer/http_engine.h"

namespace cdnwarm::warmer {

struct TaskWarmerOptions {
  std::string region = "";
  std::string warmer_id = "";
  // After a variant's answer that was not a HIT (MISS, STALE, EXPIRED, or no cache
  // information), GET it again: only a HIT then proves it warm (cache_after).
  bool verify = true;
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
