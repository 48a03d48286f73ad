// The sitemap parser behind WarmSitemap, fed the way the network delivers bytes: in
// arbitrary chunks.

#include "producer/sitemap_parser.h"

#include <zlib.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::producer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Gzip(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(in.size() + 1024, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

struct Parsed {
  absl::Status status;
  SitemapKind kind = SitemapKind::kUnknown;
  std::vector<std::string> locs;
};

Parsed ParseInChunks(const std::string& doc, size_t chunk, SitemapLimits limits = {}) {
  Parsed p;
  SitemapParser parser(limits, [&](SitemapKind, absl::string_view loc) {
    p.locs.emplace_back(loc);
    return absl::OkStatus();
  });
  for (size_t i = 0; i < doc.size() && p.status.ok(); i += chunk) {
    p.status = parser.Feed(absl::string_view(doc).substr(i, chunk));
  }
  if (p.status.ok()) p.status = parser.Finish();
  p.kind = parser.kind();
  return p;
}

const char kUrlSet[] = R"(<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc> https://example.com/a </loc><lastmod>2026-01-01</lastmod></url>
  <url><loc>https://example.com/b?x=1&amp;y=2</loc></url>
</urlset>)";

TEST(SitemapParserTest, UrlSetInAnyChunking) {
  for (size_t chunk : {1, 7, 64, 100000}) {
    Parsed p = ParseInChunks(kUrlSet, chunk);
    ASSERT_TRUE(p.status.ok()) << p.status;
    EXPECT_EQ(p.kind, SitemapKind::kUrlSet);
    EXPECT_THAT(p.locs, ElementsAre("https://example.com/a", "https://example.com/b?x=1&y=2"));
  }
}

TEST(SitemapParserTest, GzipIsRecognisedByItsBytes) {
  Parsed p = ParseInChunks(Gzip(kUrlSet), 5);
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_EQ(p.locs.size(), 2u);
}

TEST(SitemapParserTest, IndexAndPrefixedNames) {
  Parsed p =
      ParseInChunks(R"(<sm:sitemapindex xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9">
<sm:sitemap><sm:loc>https://example.com/s1.xml</sm:loc></sm:sitemap></sm:sitemapindex>)",
                    3);
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_EQ(p.kind, SitemapKind::kIndex);
  EXPECT_THAT(p.locs, ElementsAre("https://example.com/s1.xml"));
}

TEST(SitemapParserTest, RefusesHostileAndBrokenDocuments) {
  EXPECT_THAT(std::string(ParseInChunks(R"(<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">]><urlset><url><loc>&lol;</loc></url></urlset>)",
                                        16)
                              .status.message()),
              HasSubstr("DOCTYPE"));
  EXPECT_THAT(std::string(ParseInChunks("<html><body/></html>", 4).status.message()),
              HasSubstr("neither <urlset> nor <sitemapindex>"));
  EXPECT_THAT(std::string(ParseInChunks("<urlset><url><loc>x</url>", 4).status.message()),
              HasSubstr("malformed XML at line 1"));
  EXPECT_FALSE(ParseInChunks("", 4).status.ok());
  EXPECT_THAT(
      std::string(ParseInChunks(std::string("\x1f\x8bnot gzip at all"), 4).status.message()),
      HasSubstr("gzip"));
  EXPECT_THAT(
      std::string(ParseInChunks(kUrlSet, 8, {.max_decompressed_bytes = 100}).status.message()),
      HasSubstr("larger than 100 bytes"));
}

}  // namespace
}  // namespace cdnwarm::producer
