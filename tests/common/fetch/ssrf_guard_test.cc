#include "common/fetch/ssrf_guard.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::common {
namespace {

TEST(AddressPolicyTest, RefusesPrivateAndSpecialRangesByDefault) {
  const AddressPolicy policy;
  for (const char* ip : {"127.0.0.1",
                         "127.255.0.9",
                         "10.0.0.1",
                         "172.16.5.4",
                         "172.31.255.255",
                         "192.168.1.1",
                         "169.254.169.254",
                         "100.64.0.1",
                         "0.0.0.0",
                         "224.0.0.1",
                         "255.255.255.255",
                         "::1",
                         "::",
                         "fd00::1",
                         "fc12::3",
                         "fe80::1",
                         "::ffff:127.0.0.1",
                         "::ffff:10.1.2.3",
                         "::ffff:169.254.169.254",
                         "64:ff9b::a00:1",
                         "ff02::1"}) {
    absl::Status s = policy.CheckText(ip);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << ip;
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr(ip));
  }
}

TEST(AddressPolicyTest, AllowsPublicAddresses) {
  const AddressPolicy policy;
  for (const char* ip : {"93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111",
                         "::ffff:93.184.216.34", "100.128.0.1"}) {
    EXPECT_TRUE(policy.CheckText(ip).ok()) << ip;
  }
}

TEST(AddressPolicyTest, ExplicitAllowanceOpensOnlyThatRange) {
  absl::StatusOr<AddressPolicy> policy = AddressPolicy::Create({"127.0.0.0/8"});
  ASSERT_TRUE(policy.ok());
  EXPECT_TRUE(policy->CheckText("127.0.0.1").ok());
  EXPECT_TRUE(policy->CheckText("::ffff:127.0.0.2").ok());
  EXPECT_FALSE(policy->CheckText("10.0.0.1").ok());
  EXPECT_FALSE(policy->CheckText("::1").ok());
  EXPECT_FALSE(policy->CheckText("169.254.169.254").ok());
}

TEST(AddressPolicyTest, BadRangesAreErrors) {
  EXPECT_FALSE(AddressPolicy::Create({"127.0.0.0/33"}).ok());
  EXPECT_FALSE(AddressPolicy::Create({"not-an-ip"}).ok());
  EXPECT_FALSE(AddressPolicy::Create({"::/129"}).ok());
  EXPECT_TRUE(AddressPolicy::Create({"fd00::/8", "10.1.0.0/16"}).ok());
}

TEST(HostAllowListTest, ExactAndSuffixPatterns) {
  absl::StatusOr<HostAllowList> list = HostAllowList::Parse({"example.com", "*.cdn.example.net"});
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->Allows("example.com"));
  EXPECT_FALSE(list->Allows("www.example.com"));
  EXPECT_TRUE(list->Allows("a.cdn.example.net"));
  EXPECT_TRUE(list->Allows("a.b.cdn.example.net"));
  EXPECT_FALSE(list->Allows("cdn.example.net"));
  EXPECT_FALSE(list->Allows("evilcdn.example.net"));
  EXPECT_FALSE(list->Allows("example.com.evil.org"));
}

TEST(HostAllowListTest, EmptyAllowsEverythingAndBadPatternsAreErrors) {
  EXPECT_TRUE(HostAllowList::Parse({})->Allows("anything.example"));
  EXPECT_FALSE(HostAllowList::Parse({"exa mple.com"}).ok());
  EXPECT_FALSE(HostAllowList::Parse({"*."}).ok());
  EXPECT_FALSE(HostAllowList::Parse({"http://x/"}).ok());
}

}  // namespace
}  // namespace cdnwarm::common
