#include "warmer/warmer_service.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "common/core/grpc_status.h"
#include "common/fetch/task_validation.h"
#include "common/fetch/url_canon.h"

namespace cdnwarm::warmer {

grpc::ServerUnaryReactor* WarmerService::WarmNow(grpc::CallbackServerContext* ctx,
                                                 const cdnwarm::v1::WarmNowRequest* request,
                                                 cdnwarm::v1::WarmResult* reply) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<common::CanonicalUrl> url = common::CanonicalizeUrl(request->url());
  absl::Status s = url.ok() ? guard_.CheckHost(url->host) : url.status();
  if (s.ok()) s = common::ValidateVariants(request->variants(), "variants");
  if (!s.ok()) {
    reactor->Finish(common::ToGrpcStatus(s));
    return reactor;
  }
  cdnwarm::v1::WarmTask task;
  task.set_task_id("warm-now");
  task.set_url(url->url);
  *task.mutable_variants() = request->variants();
  warmer_.Warm(
      task, 1,
      [this, reactor, reply](WarmOutcome out) {
        stats_.Finished(out.result, cdnwarm::v1::AckOutcome_Name(out.ack).c_str());
        *reply = std::move(out.result);
        reactor->Finish(grpc::Status::OK);
      },
      request->has_verify() ? std::optional<bool>(request->verify()) : std::nullopt);
  return reactor;
}

grpc::ServerUnaryReactor* WarmerService::GetStats(grpc::CallbackServerContext* ctx,
                                                  const cdnwarm::v1::GetStatsRequest*,
                                                  cdnwarm::v1::WarmerStats* reply) {
  *reply = stats_.Snapshot();
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace cdnwarm::warmer
