#include "common/core/log.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::log {
namespace {

TEST(LogTest, FormatsOneJsonObjectWithTypedFields) {
  SetService("producer");
  const absl::Time t = absl::FromUnixMicros(1700000000123456);
  EXPECT_EQ(FormatLine(t, Level::kWarn, "kafka slow",
                       {{"partition", 3},
                        {"lag", uint64_t{18446744073709551615u}},
                        {"ratio", 0.5},
                        {"ok", false},
                        {"topic", "warm.requests"},
                        {"wait", absl::Milliseconds(1500)}}),
            "{\"ts\":\"2023-11-14T22:13:20.123456Z\",\"level\":\"warn\",\"service\":\"producer\","
            "\"msg\":\"kafka slow\",\"partition\":3,\"lag\":18446744073709551615,\"ratio\":0.5,"
            "\"ok\":false,\"topic\":\"warm.requests\",\"wait\":1.5}");
}

TEST(LogTest, EscapesControlCharactersQuotesAndBadUtf8) {
  std::string out;
  AppendJsonString(out, "a\"b\\c\nd\te\x01\x7f");
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\nd\\te\\u0001\\u007f\"");

  out.clear();
  AppendJsonString(out, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");  // valid UTF-8 kept
  EXPECT_EQ(out, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");

  out.clear();
  // Lone continuation byte, truncated sequence, overlong '/', surrogate half.
  static constexpr char kBad[] = "\x80|\xe2\x82|\xc0\xaf|\xed\xa0\x80";
  AppendJsonString(out, absl::string_view(kBad, sizeof(kBad) - 1));
  EXPECT_EQ(out,
            "\"\xEF\xBF\xBD|\xEF\xBF\xBD\xEF\xBF\xBD|\xEF\xBF\xBD\xEF\xBF\xBD|"
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

TEST(LogTest, NonFiniteNumbersStayValidJson) {
  const std::string line = FormatLine(absl::UnixEpoch(), Level::kInfo, "m",
                                      {{"x", std::numeric_limits<double>::infinity()}});
  EXPECT_THAT(line, ::testing::HasSubstr("\"x\":\"inf\""));
}

TEST(LogTest, ParsesLevels) {
  Level l = Level::kInfo;
  EXPECT_TRUE(ParseLevel("DEBUG", &l).ok());
  EXPECT_EQ(l, Level::kDebug);
  EXPECT_TRUE(ParseLevel("error", &l).ok());
  EXPECT_EQ(l, Level::kError);
  EXPECT_THAT(ParseLevel("loud", &l).message(), ::testing::HasSubstr("\"loud\""));
}

}  // namespace
}  // namespace cdnwarm::log
