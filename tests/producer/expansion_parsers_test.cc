// The document parsers behind WarmSitemap and WarmPlaylist, fed the way the network
// delivers bytes: in arbitrary chunks.

#include <zlib.h>

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "producer/hls_playlist.h"
#include "producer/sitemap_parser.h"
#include "producer/task_factory.h"

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

TEST(HlsPlaylistTest, MasterListsVariantsRenditionsAndIFrames) {
  absl::StatusOr<HlsPlaylist> p = ParseHlsPlaylist(
      "#EXTM3U\r\n#EXT-X-VERSION:6\r\n"
      "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"en\",URI=\"audio/en.m3u8\"\r\n"
      "#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\r\n360p/index.m3u8\r\n"
      "#EXT-X-STREAM-INF:BANDWIDTH=2000000\r\nhttps://cdn.example.com/720p/index.m3u8\r\n"
      "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI=\"iframes.m3u8\"\r\n");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->is_master);
  EXPECT_THAT(p->playlists, ElementsAre("audio/en.m3u8", "360p/index.m3u8",
                                        "https://cdn.example.com/720p/index.m3u8", "iframes.m3u8"));
  EXPECT_TRUE(p->segments.empty());
}

TEST(HlsPlaylistTest, MediaListsSegmentsInitSectionsAndPartsButNotKeys) {
  absl::StatusOr<HlsPlaylist> p = ParseHlsPlaylist(
      "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys/k1\"\n"
      "#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:6.0,\nseg0.m4s\n#EXTINF:6.0,\nseg1.m4s\n"
      "#EXT-X-PART:DURATION=1.0,URI=\"seg2.part0.m4s\"\n#EXT-X-ENDLIST\n");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->is_master);
  EXPECT_THAT(p->segments, ElementsAre("init.mp4", "seg0.m4s", "seg1.m4s", "seg2.part0.m4s"));
  EXPECT_FALSE(ParseHlsPlaylist("<html>").ok());
}

TEST(TaskOptionsTest, ValidationNamesTheField) {
  cdnwarm::v1::TaskOptions o;
  o.add_target_regions("eu-west");
  auto* v = o.add_variants();
  v->set_name("br");
  auto* h = v->add_headers();
  h->set_name("Accept-Encoding");
  h->set_value("br");
  EXPECT_TRUE(ValidateOptions(o, {}).ok());

  cdnwarm::v1::TaskOptions bad_region = o;
  bad_region.add_target_regions("EU");
  EXPECT_THAT(std::string(ValidateOptions(bad_region, {}).status().message()),
              HasSubstr("options.target_regions[1]"));
  cdnwarm::v1::TaskOptions bad_header = o;
  bad_header.mutable_variants(0)->mutable_headers(0)->set_value("br\r\nX-Evil: 1");
  EXPECT_THAT(std::string(ValidateOptions(bad_header, {}).status().message()),
              HasSubstr("options.variants[0].headers[0].value"));
  cdnwarm::v1::TaskOptions host_header = o;
  host_header.mutable_variants(0)->mutable_headers(0)->set_name("Host");
  EXPECT_THAT(std::string(ValidateOptions(host_header, {}).status().message()),
              HasSubstr("may not be set"));
  // A credential would be kept on the requests topic: refused, as common.proto says.
  cdnwarm::v1::TaskOptions auth = o;
  auth.mutable_variants(0)->mutable_headers(0)->set_name("authorization");
  auth.mutable_variants(0)->mutable_headers(0)->set_value("Bearer secret");
  EXPECT_THAT(std::string(ValidateOptions(auth, {}).status().message()),
              HasSubstr("options.variants[0].headers[0].name: header \"Authorization\" may "
                        "not be set on a warm request"));
  cdnwarm::v1::TaskOptions too_many = o;
  for (int i = 0; i < 9; ++i) too_many.add_variants()->set_name(std::to_string(i));
  EXPECT_THAT(std::string(ValidateOptions(too_many, {}).status().message()),
              HasSubstr("the limit is 8"));
  cdnwarm::v1::TaskOptions ttl = o;
  ttl.mutable_ttl()->set_seconds(8 * 24 * 3600);
  EXPECT_THAT(std::string(ValidateOptions(ttl, {}).status().message()), HasSubstr("options.ttl"));
  // A region the deployment does not have (a typo) is refused, naming it.
  EXPECT_TRUE(ValidateOptions(o, {"eu-west", "us-east"}).ok());
  cdnwarm::v1::TaskOptions typo;
  typo.add_target_regions("us-east");
  typo.add_target_regions("eu-wset");
  EXPECT_EQ(std::string(ValidateOptions(typo, {"eu-west", "us-east"}).status().message()),
            "options.target_regions[1]: region \"eu-wset\" is not one of this deployment's "
            "regions (eu-west, us-east)");
}

TEST(TaskIdTest, RoundTrips) {
  std::string job;
  uint32_t index = 0;
  ASSERT_TRUE(ParseTaskId(TaskId("jabc", 42), &job, &index));
  EXPECT_EQ(job, "jabc");
  EXPECT_EQ(index, 42u);
  EXPECT_FALSE(ParseTaskId("no-slash", &job, &index));
  EXPECT_FALSE(ParseTaskId("j/notanumber", &job, &index));
  EXPECT_NE(NewJobId(), NewJobId());
}

}  // namespace
}  // namespace cdnwarm::producer
