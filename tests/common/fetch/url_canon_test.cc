// Table-driven tests of URL validation and the canonical form, the WHATWG serialisation
// (the examples among them); url_conformance_test runs the standard's own data.

#include "common/fetch/url_canon.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::common {
namespace {

struct Case {
  std::string name;
  std::string input;
  std::string want;  // canonical URL, or empty when an error is expected
  std::string error_has = "";
};

class CanonicalizeUrlTest : public ::testing::TestWithParam<Case> {};

TEST_P(CanonicalizeUrlTest, Canonicalizes) {
  const Case& c = GetParam();
  absl::StatusOr<CanonicalUrl> got = CanonicalizeUrl(c.input);
  if (c.want.empty()) {
    ASSERT_FALSE(got.ok()) << "accepted as " << got->url;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(got.status().message()), ::testing::StartsWith("url: "));
    EXPECT_THAT(std::string(got.status().message()), ::testing::HasSubstr(c.error_has));
  } else {
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->url, c.want);
    // Canonical form is a fixed point.
    absl::StatusOr<CanonicalUrl> again = CanonicalizeUrl(got->url);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->url, got->url);
  }
}

const std::string kLongPath(5000, 'a');

INSTANTIATE_TEST_SUITE_P(
    Table, CanonicalizeUrlTest,
    ::testing::Values(
        // Accepted, and how they come out: the WHATWG serialisation without the fragment.
        Case{"plain_https", "https://example.com/a/b", "https://example.com/a/b"},
        Case{"plain_http", "http://example.com/", "http://example.com/"},
        Case{"empty_path_becomes_slash", "https://example.com", "https://example.com/"},
        Case{"upper_scheme", "HTTPS://example.com/x", "https://example.com/x"},
        Case{"mixed_scheme", "HtTp://example.com/x", "http://example.com/x"},
        Case{"upper_host", "https://WWW.Example.COM/Path", "https://www.example.com/Path"},
        Case{"default_https_port", "https://example.com:443/x", "https://example.com/x"},
        Case{"default_http_port", "http://example.com:80/x", "http://example.com/x"},
        Case{"other_port_kept", "https://example.com:8443/x", "https://example.com:8443/x"},
        Case{"port_80_on_https_kept", "https://example.com:80/x", "https://example.com:80/x"},
        Case{"fragment_dropped", "https://example.com/a#section", "https://example.com/a"},
        Case{"query_kept_in_order", "https://example.com/a?b=2&a=1",
             "https://example.com/a?b=2&a=1"},
        Case{"query_and_fragment", "https://example.com/a?x=1#y", "https://example.com/a?x=1"},
        Case{"empty_query_kept", "https://example.com/a?", "https://example.com/a?"},
        Case{"empty_query_before_fragment", "https://example.com/a?#f", "https://example.com/a?"},
        Case{"dot_segment", "https://example.com/a/./b", "https://example.com/a/b"},
        Case{"dotdot_segment", "https://example.com/a/b/../c", "https://example.com/a/c"},
        Case{"dotdot_above_root", "https://example.com/../../etc/passwd",
             "https://example.com/etc/passwd"},
        Case{"encoded_dotdot", "https://example.com/a/%2e%2e/b", "https://example.com/b"},
        Case{"encoded_dot_upper", "https://example.com/a/%2E/b", "https://example.com/a/b"},
        Case{"trailing_dotdot", "https://example.com/a/b/..", "https://example.com/a/"},
        // Percent-encodings are never decoded and their case never changed.
        Case{"escapes_kept_as_sent", "http://example.com/foo%41%7a",
             "http://example.com/foo%41%7a"},
        Case{"escaped_dot_not_decoded", "http://example.com/foo%2Ehtml",
             "http://example.com/foo%2Ehtml"},
        Case{"escape_case_kept", "https://example.com/a%2fb%3a", "https://example.com/a%2fb%3a"},
        Case{"query_escape_kept", "https://example.com/s?q=%61", "https://example.com/s?q=%61"},
        Case{"malformed_escape_kept", "https://example.com/%zz", "https://example.com/%zz"},
        Case{"space_escape_kept", "https://example.com/a%20b", "https://example.com/a%20b"},
        Case{"space_encoded", "https://example.com/a b", "https://example.com/a%20b"},
        Case{"quote_in_query_encoded", "https://example.com/?a'b", "https://example.com/?a%27b"},
        Case{"quote_in_path_kept", "https://example.com/a'b", "https://example.com/a'b"},
        Case{"utf8_path_encoded", "https://example.com/caf\xc3\xa9",
             "https://example.com/caf%C3%A9"},
        Case{"tab_and_newline_removed", "https://exa\tmple.com/a\nb", "https://example.com/ab"},
        Case{"outer_spaces_stripped", "  https://example.com/x \n", "https://example.com/x"},
        Case{"control_encoded", std::string("https://example.com/\x01x", 22),
             "https://example.com/%01x"},
        Case{"idn_host",
             "https://b\xc3\xbc"
             "cher.example/",
             "https://xn--bcher-kva.example/"},
        Case{"punycode_host_kept", "https://xn--bcher-kva.example/",
             "https://xn--bcher-kva.example/"},
        Case{"trailing_dot_host_kept", "https://example.com./x", "https://example.com./x"},
        Case{"encoded_host_decoded", "https://exa%6Dple.com/", "https://example.com/"},
        Case{"ipv4_host", "http://93.184.216.34/x", "http://93.184.216.34/x"},
        Case{"ipv6_host", "http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x"},
        Case{"decimal_ipv4", "http://1572395042/", "http://93.184.216.34/"},
        Case{"octal_hex_ipv4", "http://0xc0.0250.01/", "http://192.168.0.1/"},
        Case{"no_slashes", "http:example.com/x", "http://example.com/x"},
        Case{"backslashes", "http:\\\\example.com\\a\\b", "http://example.com/a/b"},
        Case{"subdelims_kept", "https://example.com/a;b=c,d", "https://example.com/a;b=c,d"},
        Case{"query_reserved_kept", "https://example.com/s?q=a/b?c",
             "https://example.com/s?q=a/b?c"},
        // Refused, naming why.
        Case{"empty", "", "", "is empty"}, Case{"only_spaces", "   ", "", "is empty"},
        Case{"file_scheme", "file:///etc/passwd", "", "scheme \"file\" is not http or https"},
        Case{"gopher_scheme", "gopher://example.com/", "", "scheme \"gopher\""},
        Case{"ftp_scheme", "ftp://example.com/x", "", "scheme \"ftp\""},
        Case{"javascript_scheme", "javascript:alert(1)", "", "scheme \"javascript\""},
        Case{"data_scheme", "data:text/plain,hi", "", "scheme \"data\""},
        Case{"relative", "/just/a/path", "", "not an absolute"},
        Case{"no_scheme", "example.com/x", "", "not an absolute"},
        Case{"userinfo", "http://user:pw@example.com/", "", "userinfo"},
        Case{"user_only", "https://user@example.com/", "", "userinfo"},
        Case{"no_host", "http:///", "", "host is missing"},
        Case{"over_long", "https://example.com/" + kLongPath, "", "the limit is 4096"},
        Case{"port_out_of_range", "https://example.com:99999/", "", "out of range"},
        Case{"port_not_a_number", "https://example.com:8x/", "", "is not a number"},
        Case{"port_zero", "https://example.com:0/", "", "port 0 cannot be fetched"},
        Case{"two_colons", "http://a:1:2/", "", "port \"1:2\" is not a number"},
        Case{"forbidden_host_char", "https://exa<mple.com/", "", "forbidden code point"},
        Case{"escaped_control_in_host", "https://exa%00mple.com/", "", "host"},
        Case{"invalid_utf8_host", "https://\xff\xfe.example/", "", "host"},
        Case{"escaped_pipe_in_host", "https://a8.%7C/", "", "host"},
        Case{"ipv4_part_out_of_range", "http://192.168.0.257/", "", "IPv4 address"},
        Case{"ipv4_too_large", "http://4294967296/", "", "IPv4 address"},
        Case{"ipv4_all_256", "http://256.256.256.256/", "", "IPv4 address"},
        Case{"ipv4_hex_too_large", "http://0xffffffff1/", "", "IPv4 address"},
        Case{"ipv6_unclosed", "http://[::1/", "", "IPv6"},
        Case{"ipv6_invalid", "http://[1::2::3]/", "", "IPv6 address"}),
    [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

TEST(ResolveUrlTest, ResolvesRelativeReferences) {
  const std::string base = "https://cdn.example.com/live/master.m3u8?token=1";
  EXPECT_EQ(ResolveUrl(base, "720p/index.m3u8")->url,
            "https://cdn.example.com/live/720p/index.m3u8");
  EXPECT_EQ(ResolveUrl(base, "../vod/seg1.ts")->url, "https://cdn.example.com/vod/seg1.ts");
  EXPECT_EQ(ResolveUrl(base, "/abs/seg.ts")->url, "https://cdn.example.com/abs/seg.ts");
  EXPECT_EQ(ResolveUrl(base, "//other.example.com/x.ts")->url, "https://other.example.com/x.ts");
  EXPECT_EQ(ResolveUrl(base, "HTTP://Other.example.com:80/y")->url, "http://other.example.com/y");
  EXPECT_EQ(ResolveUrl(base, "seg 1.ts")->url, "https://cdn.example.com/live/seg%201.ts");
  EXPECT_EQ(ResolveUrl(base, "?q")->url, "https://cdn.example.com/live/master.m3u8?q");
  EXPECT_FALSE(ResolveUrl(base, "ftp://example.com/x").ok());
  EXPECT_FALSE(ResolveUrl(base, "").ok()) << "an entry without a URL is an error";
  EXPECT_FALSE(ResolveUrl(base, "http://[::1").ok());
}

}  // namespace
}  // namespace cdnwarm::common
