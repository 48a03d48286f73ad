// WarmerService over a real gRPC channel, warming through a real nginx edge: WarmNow's
// refusals as RPC errors (bad URL or variants, a host off the allow-list), its full result,
// its verify field, a refused address as a FAILED result, and GetStats counting it all.

#include "warmer/warmer_service.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cdnwarm/v1/warmer.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "tests/support/nginx_server.h"

namespace cdnwarm::warmer {
namespace {

using ::testing::HasSubstr;

constexpr const char* kPython = CDNWARM_TEST_PYTHON;
constexpr const char* kOrigin = CDNWARM_TEST_ORIGIN;

class WarmerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto origin = testing::StartTestOrigin(kPython, kOrigin, &origin_port_);
    ASSERT_TRUE(origin.ok()) << origin.status();
    origin_ = *std::move(origin);
    auto edge = testing::StartCachingEdge(origin_port_, "127.0.0.1", "edge-s");
    ASSERT_TRUE(edge.ok()) << edge.status();
    edge_ = *std::move(edge);
    // Two loopback hosts are allowed by name; only 127.0.0.1 may be connected to.
    guard_.hosts = *common::HostAllowList::Parse({"127.0.0.1", "127.0.0.2"});
    guard_.addresses = *common::AddressPolicy::Create({"127.0.0.1/32"});
    auto engine = HttpEngine::Create({}, guard_, registry_);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    warmer_ = std::make_unique<TaskWarmer>(
        *engine_, guard_, TaskWarmerOptions{.region = "eu", .warmer_id = "w1", .verify = true});
    service_ = std::make_unique<WarmerService>(*warmer_, guard_, stats_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = cdnwarm::v1::Warmer::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    // The engine's thread ran the WarmNow callbacks: joined before the service and the
    // stats they touched go (as WarmerApp does).
    engine_.reset();
  }

  grpc::Status WarmNow(const cdnwarm::v1::WarmNowRequest& request, cdnwarm::v1::WarmResult* reply) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stub_->WarmNow(&ctx, request, reply);
  }

  cdnwarm::v1::WarmerStats GetStats() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    cdnwarm::v1::WarmerStats reply;
    grpc::Status s = stub_->GetStats(&ctx, cdnwarm::v1::GetStatsRequest(), &reply);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return reply;
  }

  static cdnwarm::v1::WarmNowRequest Request(const std::string& url) {
    cdnwarm::v1::WarmNowRequest r;
    r.set_url(url);
    return r;
  }

  static void AddVariant(cdnwarm::v1::WarmNowRequest* r, const std::string& name,
                         const std::string& header = "", const std::string& value = "") {
    cdnwarm::v1::RequestVariant* v = r->add_variants();
    v->set_name(name);
    if (!header.empty()) {
      v->add_headers()->set_name(header);
      v->mutable_headers(0)->set_value(value);
    }
  }

  std::unique_ptr<testing::ChildProcess> origin_;
  int origin_port_ = 0;
  std::unique_ptr<testing::NginxServer> edge_;
  metrics::Registry registry_;
  common::FetchGuard guard_;
  std::unique_ptr<HttpEngine> engine_;
  std::unique_ptr<TaskWarmer> warmer_;
  WarmerStats stats_{"eu", "sub-1", registry_};
  std::unique_ptr<WarmerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<cdnwarm::v1::Warmer::Stub> stub_;
};

TEST_F(WarmerServiceTest, WarmNowWarmsEveryVariantAndReturnsTheWholeResult) {
  cdnwarm::v1::WarmNowRequest request = Request(
      absl::StrCat("HTTP://127.0.0.1:", edge_->port(), "/static/x/../now.js?size=3000#frag"));
  AddVariant(&request, "gzip", "Accept-Encoding", "gzip");
  AddVariant(&request, "identity");
  cdnwarm::v1::WarmResult reply;
  grpc::Status s = WarmNow(request, &reply);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(reply.task_id(), "warm-now");
  EXPECT_EQ(reply.url(),
            absl::StrCat("http://127.0.0.1:", edge_->port(), "/static/now.js?size=3000"))
      << "canonical";
  EXPECT_EQ(reply.outcome(), cdnwarm::v1::OUTCOME_WARMED) << reply.error();
  EXPECT_EQ(reply.region(), "eu");
  EXPECT_EQ(reply.warmer_id(), "w1");
  EXPECT_EQ(reply.attempts(), 1u);
  ASSERT_EQ(reply.variants_size(), 2);
  EXPECT_EQ(reply.variants(0).variant(), "gzip");
  EXPECT_EQ(reply.variants(1).variant(), "identity");
  for (const cdnwarm::v1::VariantResult& v : reply.variants()) {
    EXPECT_EQ(v.cache_before(), cdnwarm::v1::CACHE_STATUS_MISS) << v.variant();
    EXPECT_EQ(v.cache_after(), cdnwarm::v1::CACHE_STATUS_HIT) << v.variant();
    EXPECT_EQ(v.pop(), "edge-s");
  }
  EXPECT_LT(reply.variants(0).body_bytes(), reply.variants(1).body_bytes()) << "gzip asked";

  const cdnwarm::v1::WarmerStats stats = GetStats();
  EXPECT_EQ(stats.region(), "eu");
  EXPECT_EQ(stats.subscriber_id(), "sub-1");
  EXPECT_EQ(stats.outcomes().at("ACK_OUTCOME_WARMED"), 1u);
  EXPECT_EQ(stats.outcomes().size(), 1u);
  EXPECT_EQ(stats.bytes(), static_cast<uint64_t>(reply.bytes()));
}

TEST_F(WarmerServiceTest, WarmNowsVerifyFieldOverridesTheWarmersSetting) {
  cdnwarm::v1::WarmNowRequest trusting = Request(edge_->url("/static/trust.js"));
  trusting.set_verify(false);
  cdnwarm::v1::WarmResult reply;
  ASSERT_TRUE(WarmNow(trusting, &reply).ok());
  EXPECT_EQ(reply.outcome(), cdnwarm::v1::OUTCOME_WARMED) << reply.error();
  EXPECT_EQ(reply.cache_before(), cdnwarm::v1::CACHE_STATUS_MISS);
  EXPECT_EQ(reply.cache_after(), cdnwarm::v1::CACHE_STATUS_UNSPECIFIED) << "no verify GET";

  cdnwarm::v1::WarmNowRequest unset = Request(edge_->url("/static/check.js"));
  ASSERT_TRUE(WarmNow(unset, &reply).ok());
  EXPECT_EQ(reply.cache_after(), cdnwarm::v1::CACHE_STATUS_HIT) << "the warmer's verify=true";
}

TEST_F(WarmerServiceTest, WarmNowRefusesABadUrlOrBadVariantsAsInvalidArgument) {
  cdnwarm::v1::WarmResult reply;
  grpc::Status s = WarmNow(Request("ftp://127.0.0.1/x"), &reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "url: scheme \"ftp\" is not http or https");

  cdnwarm::v1::WarmNowRequest many = Request(edge_->url("/static/many.js"));
  for (int i = 0; i < 9; ++i) AddVariant(&many, absl::StrCat("v", i));
  s = WarmNow(many, &reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "variants: has 9 entries; the limit is 8");

  cdnwarm::v1::WarmNowRequest host = Request(edge_->url("/static/host.js"));
  AddVariant(&host, "moved", "Host", "elsewhere.test");
  s = WarmNow(host, &reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("variants[0].headers[0].name: header \"Host\""));

  EXPECT_TRUE(GetStats().outcomes().empty()) << "refused requests are no warms";
  EXPECT_EQ(edge_->access_log(), "") << "nothing was fetched";
}

TEST_F(WarmerServiceTest, WarmNowRefusesAHostOffTheAllowListAsPermissionDenied) {
  cdnwarm::v1::WarmResult reply;
  grpc::Status s = WarmNow(Request("http://other.test/static/x.js"), &reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message(),
            "host \"other.test\" is not in the allowed hosts list (--allowed_hosts)");
  EXPECT_TRUE(GetStats().outcomes().empty());
}

// The host is allowed by name but its address is not: the warm runs and FAILS, and the
// caller gets that result, not an RPC error.
TEST_F(WarmerServiceTest, ARefusedAddressIsAFailedResultNotAnRpcError) {
  cdnwarm::v1::WarmResult reply;
  grpc::Status s =
      WarmNow(Request(absl::StrCat("http://127.0.0.2:", edge_->port(), "/static/x.js")), &reply);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(reply.outcome(), cdnwarm::v1::OUTCOME_FAILED);
  EXPECT_THAT(reply.error(), HasSubstr("refused before connecting"));
  EXPECT_THAT(reply.error(), HasSubstr("127.0.0.2"));
  const cdnwarm::v1::WarmerStats stats = GetStats();
  EXPECT_EQ(stats.outcomes().at("ACK_OUTCOME_FAILED"), 1u);
  EXPECT_EQ(stats.outcomes().count("ACK_OUTCOME_WARMED"), 0u);
}

TEST_F(WarmerServiceTest, GetStatsIsTheWarmersRecord) {
  stats_.SetSubscribed(true);
  stats_.Delivery();
  stats_.Reconnect();
  const cdnwarm::v1::WarmerStats stats = GetStats();
  EXPECT_TRUE(stats.subscribed());
  EXPECT_EQ(stats.deliveries(), 1u);
  EXPECT_EQ(stats.reconnects(), 1u);
  EXPECT_EQ(stats.region(), "eu");
}

}  // namespace
}  // namespace cdnwarm::warmer
