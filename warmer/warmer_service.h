#pragma once

// cdnwarm.v1.Warmer on gRPC's callback API: WarmNow for operators, GetStats.

#include "cdnwarm/v1/warmer.grpc.pb.h"
#include "common/fetch/ssrf_guard.h"
#include "warmer/task_warmer.h"
#include "warmer/warmer_stats.h"

namespace cdnwarm::warmer {

class WarmerService final : public cdnwarm::v1::Warmer::CallbackService {
 public:
  WarmerService(TaskWarmer& warmer, const common::FetchGuard& guard, WarmerStats& stats)
      : warmer_(warmer), guard_(guard), stats_(stats) {}

  // Warms one URL from this region now and returns the full result. INVALID_ARGUMENT for a
  // bad URL or variants, PERMISSION_DENIED for a host outside the allow-list; a refused
  // address or an HTTP failure is a FAILED result, not an RPC error.
  grpc::ServerUnaryReactor* WarmNow(grpc::CallbackServerContext* ctx,
                                    const cdnwarm::v1::WarmNowRequest* request,
                                    cdnwarm::v1::WarmResult* reply) override;
  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* ctx,
                                     const cdnwarm::v1::GetStatsRequest* request,
                                     cdnwarm::v1::WarmerStats* reply) override;

 private:
  TaskWarmer& warmer_;
  const common::FetchGuard& guard_;
  WarmerStats& stats_;
};

}  // namespace cdnwarm::warmer
