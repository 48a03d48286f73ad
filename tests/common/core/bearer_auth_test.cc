// BearerAuth: tokens from text or a file (at least 16 bytes), and the constant-time compare.
// The header check here; the same check of a call's metadata runs end to end in the producer
// and bridge tests.

#include "common/core/bearer_auth.h"

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "grpcpp/server_context.h"
#include "gtest/gtest.h"

namespace cdnwarm::common {
namespace {

using ::testing::HasSubstr;

TEST(BearerAuthTest, ShortTokensAreRefusedAndFilesAreTrimmed) {
  EXPECT_FALSE(BearerAuth::FromToken("short").ok());
  EXPECT_TRUE(BearerAuth::FromToken("0123456789abcdef").ok());
  const std::string path = ::testing::TempDir() + "/cdnwarm_token";
  std::ofstream(path) << "  0123456789abcdef\n";
  absl::StatusOr<BearerAuth> from_file = BearerAuth::FromFile(path);
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_TRUE(from_file->enabled());
  std::ofstream(path) << "tiny\n";
  EXPECT_THAT(BearerAuth::FromFile(path).status().message(), HasSubstr("fewer than 16 bytes"));
  EXPECT_EQ(BearerAuth::FromFile("/nonexistent/token").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(BearerAuthTest, ACallWithoutTheHeaderIsUnauthenticatedUnlessAuthIsOff) {
  grpc::ServerContext call;  // no client metadata
  EXPECT_TRUE(BearerAuth().Check(call).ok()) << "disabled: every call passes";
  const absl::Status s = BearerAuth::FromToken("0123456789abcdef")->Check(call);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(s.message(), HasSubstr("authorization: Bearer"));
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("0123456789abcdef"))) << "never echoed";
}

TEST(BearerAuthTest, TheHeaderMustBeBearerAndTheToken) {
  const BearerAuth auth = *BearerAuth::FromToken("0123456789abcdef");
  EXPECT_TRUE(auth.CheckHeader("Bearer 0123456789abcdef").ok());
  EXPECT_TRUE(auth.CheckHeader("BEARER 0123456789abcdef").ok()) << "the scheme ignores case";
  EXPECT_THAT(auth.CheckHeader("Basic 0123456789abcdef").message(), HasSubstr("not a Bearer"));
  EXPECT_THAT(auth.CheckHeader("Bearer 0123456789abcdeF").message(), HasSubstr("not valid"));
  EXPECT_THAT(auth.CheckHeader("Bearer 0123456789abcdef0").message(), HasSubstr("not valid"));
  EXPECT_THAT(auth.CheckHeader(std::nullopt).message(), HasSubstr("missing"));
  EXPECT_TRUE(BearerAuth().CheckHeader(std::nullopt).ok());
}

TEST(BearerAuthTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("secret-token", "secret-token"));
  EXPECT_FALSE(ConstantTimeEquals("secret-token", "secret-tokeN"));
  EXPECT_FALSE(ConstantTimeEquals("secret-token", "secret-token-longer"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

}  // namespace
}  // namespace cdnwarm::common
