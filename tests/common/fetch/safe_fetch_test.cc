// The guarded fetch against a real nginx on loopback: refusals happen at connect time on
// the resolved address (before any byte is sent), and redirects are checked hop by hop.

#include "common/fetch/safe_fetch.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/nginx_server.h"

namespace cdnwarm::common {
namespace {

using ::testing::HasSubstr;

class SafeFetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::MakeTempDir("fetch");
    testing::WriteFile(root_ + "/doc.txt", std::string(1000, 'x'));
    auto server = testing::NginxServer::Start(root_, R"(
      location = /hop { return 302 /doc.txt; }
      location = /away { return 302 http://169.254.169.254/latest/meta-data/; }
      location = /other-host { return 302 http://elsewhere.test/doc.txt; })");
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  absl::StatusOr<FetchedResponse> Fetch(const FetchGuard& guard, const std::string& url,
                                        std::string* body, int64_t max_bytes = 1 << 20) {
    FetchLimits limits;
    limits.max_bytes = max_bytes;
    return FetchStreaming(guard, url, limits, [body](absl::string_view chunk) {
      body->append(chunk.data(), chunk.size());
      return absl::OkStatus();
    });
  }

  static FetchGuard LoopbackAllowed() {
    FetchGuard g;
    g.addresses = *AddressPolicy::Create({"127.0.0.0/8"});
    return g;
  }

  std::string root_;
  std::unique_ptr<testing::NginxServer> server_;
};

TEST_F(SafeFetchTest, FetchesWhenTheAddressIsAllowed) {
  std::string body;
  absl::StatusOr<FetchedResponse> r = Fetch(LoopbackAllowed(), server_->url("/doc.txt"), &body);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->http_status, 200);
  EXPECT_EQ(body.size(), 1000u);
}

TEST_F(SafeFetchTest, NameResolvingToLoopbackIsRefusedBeforeAnyByteIsSent) {
  std::string body;
  const std::string url = absl::StrCat("http://localhost:", server_->port(), "/doc.txt");
  absl::StatusOr<FetchedResponse> r = Fetch(FetchGuard{}, url, &body);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("refused range"));
  EXPECT_EQ(server_->access_log(), "") << "nginx saw a request";
}

TEST_F(SafeFetchTest, RedirectsAreNotFollowedUnlessEnabledAndEachHopIsChecked) {
  std::string body;
  FetchGuard guard = LoopbackAllowed();
  absl::StatusOr<FetchedResponse> r = Fetch(guard, server_->url("/hop"), &body);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("redirects are disabled"));

  guard.follow_redirects = true;
  body.clear();
  r = Fetch(guard, server_->url("/hop"), &body);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(body.size(), 1000u);

  r = Fetch(guard, server_->url("/away"), &body);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("169.254.169.254"));

  guard.hosts = *HostAllowList::Parse({"127.0.0.1"});
  r = Fetch(guard, server_->url("/other-host"), &body);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("elsewhere.test"));
}

TEST_F(SafeFetchTest, BodyLimitAndHttpErrorsAreReported) {
  std::string body;
  absl::StatusOr<FetchedResponse> r =
      Fetch(LoopbackAllowed(), server_->url("/doc.txt"), &body, 100);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("larger than the limit of 100"));
  r = Fetch(LoopbackAllowed(), server_->url("/missing"), &body);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("HTTP status 404"));
  r = Fetch(LoopbackAllowed(), "gopher://127.0.0.1/", &body);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cdnwarm::common
