// ExpandSitemap and ExpandPlaylist against a real nginx serving the documents: order, nested
// sitemaps and media playlists, max_urls (counted, not fetched), loops and depth, rejections
// of nested failures versus errors of the top-level document, and a sink that stops.

#include "producer/expander.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/http_get.h"
#include "tests/support/nginx_server.h"

namespace cdnwarm::producer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;

std::string Urlset(const std::vector<std::string>& locs) {
  std::string x =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n";
  for (const std::string& l : locs) absl::StrAppend(&x, "  <url><loc>", l, "</loc></url>\n");
  return x + "</urlset>\n";
}

std::string Index(const std::vector<std::string>& locs) {
  std::string x = "<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n";
  for (const std::string& l : locs) {
    absl::StrAppend(&x, "  <sitemap><loc>", l, "</loc></sitemap>\n");
  }
  return x + "</sitemapindex>\n";
}

// Records what the expansion hands over. Like the producer's sink, once Add fails the sink
// reports itself stopped.
class RecordingSink final : public UrlSink {
 public:
  absl::Status Add(absl::string_view url) override {
    added.emplace_back(url);
    if (fail_at.has_value() && added.size() >= *fail_at) {
      stopped = true;
      return absl::CancelledError("the call was cancelled");
    }
    return absl::OkStatus();
  }
  void Reject(absl::string_view url, absl::string_view reason) override {
    rejected.emplace_back(std::string(url), std::string(reason));
  }
  bool Stopped() const override { return stopped; }

  std::vector<std::string> added;
  std::vector<std::pair<std::string, std::string>> rejected;
  std::optional<size_t> fail_at;
  bool stopped = false;
};

class ExpanderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = cdnwarm::testing::MakeTempDir("expander");
    cdnwarm::testing::WriteFile(root_ + "/sentinel.txt", "ok");
    auto server = cdnwarm::testing::NginxServer::Start(root_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    guard_.addresses = *common::AddressPolicy::Create({"127.0.0.0/8"});
  }

  void Serve(const std::string& path, const std::string& body) {
    cdnwarm::testing::WriteFile(root_ + path, body);
  }
  std::string Url(const std::string& path) const { return server_->url(path); }

  // nginx's access log including every request made before this call (one request after
  // them, whose line comes after theirs).
  std::string Requests() const {
    EXPECT_EQ(cdnwarm::testing::HttpGet(Url("/sentinel.txt")).status, 200);
    return server_->WaitForAccessLog("/sentinel.txt");
  }

  std::string root_;
  std::unique_ptr<cdnwarm::testing::NginxServer> server_;
  common::FetchGuard guard_;
  ExpandOptions options_;
  RecordingSink sink_;
  ExpansionSummary summary_;
};

TEST_F(ExpanderTest, ASitemapsUrlsAreAddedInDocumentOrderAsFound) {
  Serve("/sitemap.xml",
        Urlset({"https://example.com/b", "https://example.com/a?x=1", "https://EXAMPLE.com/c"}));
  const absl::Status s = ExpandSitemap(guard_, Url("/sitemap.xml"), options_, sink_, &summary_);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(sink_.added, ElementsAre("https://example.com/b", "https://example.com/a?x=1",
                                       "https://EXAMPLE.com/c"));
  EXPECT_THAT(sink_.rejected, IsEmpty());
  EXPECT_EQ(summary_.found, 3u);
  EXPECT_EQ(summary_.kept, 3u);
  EXPECT_FALSE(summary_.truncated());
}

TEST_F(ExpanderTest, AnIndexIsFollowedToItsSitemapsWithRelativeLocsResolved) {
  Serve("/maps/index.xml", Index({"part1.xml", Url("/maps/part2.xml")}));
  Serve("/maps/part1.xml", Urlset({"https://example.com/1", "https://example.com/2"}));
  Serve("/maps/part2.xml", Urlset({"https://example.com/3"}));
  const absl::Status s = ExpandSitemap(guard_, Url("/maps/index.xml"), options_, sink_, &summary_);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(sink_.added, ElementsAre("https://example.com/1", "https://example.com/2",
                                       "https://example.com/3"));
  EXPECT_EQ(summary_.found, 3u);
  EXPECT_EQ(summary_.kept, 3u);
}

TEST_F(ExpanderTest, MaxUrlsKeepsTheFirstCountsTheRestAndFetchesNoFurtherSitemap) {
  Serve("/index.xml", Index({Url("/one.xml"), Url("/two.xml"), Url("/three.xml")}));
  Serve("/one.xml", Urlset({"https://example.com/1", "https://example.com/2"}));
  Serve("/two.xml",
        Urlset({"https://example.com/3", "https://example.com/4", "https://example.com/5"}));
  Serve("/three.xml", Urlset({"https://example.com/6"}));
  options_.max_urls = 3;
  const absl::Status s = ExpandSitemap(guard_, Url("/index.xml"), options_, sink_, &summary_);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(sink_.added, ElementsAre("https://example.com/1", "https://example.com/2",
                                       "https://example.com/3"));
  EXPECT_EQ(summary_.kept, 3u);
  EXPECT_EQ(summary_.found, 5u) << "two.xml is counted to its end";
  EXPECT_EQ(summary_.unread_sitemaps, 1u);
  EXPECT_TRUE(summary_.truncated());
  const std::string log = Requests();
  EXPECT_THAT(log, HasSubstr("GET /two.xml"));
  EXPECT_THAT(log, Not(HasSubstr("/three.xml")));
}

TEST_F(ExpanderTest, LoopsAndSitemapsDeeperThanMaxDepthAreRejected) {
  Serve("/index.xml", Index({Url("/index.xml"), Url("/leaf.xml"), Url("/nested.xml")}));
  Serve("/nested.xml", Index({Url("/deeper.xml"), Url("/leaf.xml")}));
  Serve("/deeper.xml", Index({Url("/leaf.xml")}));
  Serve("/leaf.xml", Urlset({"https://example.com/leaf"}));
  options_.max_depth = 1;
  const absl::Status s = ExpandSitemap(guard_, Url("/index.xml"), options_, sink_, &summary_);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(sink_.added, ElementsAre("https://example.com/leaf"));
  EXPECT_THAT(
      sink_.rejected,
      ElementsAre(Pair(Url("/index.xml"), "sitemap already read (a loop in the sitemap index)"),
                  Pair(Url("/deeper.xml"), "nested deeper than max_depth 1"),
                  Pair(Url("/leaf.xml"), "nested deeper than max_depth 1")));
  EXPECT_THAT(Requests(), Not(HasSubstr("/deeper.xml")));
}

TEST_F(ExpanderTest, ASitemapTooDeepOnOnePathIsReadWhereItIsShallowEnough) {
  // Depth first: nested.xml's reference to leaf.xml is too deep and comes first; the index's
  // own reference to it is within max_depth and must still read it.
  Serve("/index.xml", Index({Url("/nested.xml"), Url("/leaf.xml")}));
  Serve("/nested.xml", Index({Url("/leaf.xml")}));
  Serve("/leaf.xml", Urlset({"https://example.com/leaf"}));
  options_.max_depth = 1;
  const absl::Status s = ExpandSitemap(guard_, Url("/index.xml"), options_, sink_, &summary_);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(sink_.added, ElementsAre("https://example.com/leaf"));
  EXPECT_THAT(sink_.rejected,
              ElementsAre(Pair(Url("/leaf.xml"), "nested deeper than max_depth 1")));
}

TEST_F(ExpanderTest, NestedFailuresAreRejectionsAndTheRestIsRead) {
  Serve("/index.xml",
        Index({Url("/missing.xml"), Url("/broken.xml"), "http://[bad", Url("/ok.xml")}));
  Serve("/broken.xml", "<urlset><url><loc>https://example.com/x</loc>");
  Serve("/ok.xml", Urlset({"https://example.com/ok"}));
  const absl::Status s = ExpandSitemap(guard_, Url("/index.xml"), options_, sink_, &summary_);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(sink_.rejected.size(), 3u);
  EXPECT_EQ(sink_.rejected[0].first, Url("/missing.xml"));
  EXPECT_THAT(sink_.rejected[0].second, HasSubstr("HTTP status 404"));
  EXPECT_EQ(sink_.rejected[1].first, Url("/broken.xml"));
  EXPECT_THAT(sink_.rejected[1].second, StartsWith("sitemap " + Url("/broken.xml") + ": "));
  EXPECT_EQ(sink_.rejected[2].first, "http://[bad");
  EXPECT_THAT(sink_.rejected[2].second, StartsWith("loc"));
  // What broken.xml held before it broke off was added: its <loc> was complete.
  EXPECT_THAT(sink_.added, ElementsAre("https://example.com/x", "https://example.com/ok"));
}

TEST_F(ExpanderTest, TheTopLevelDocumentsFailureIsTheError) {
  absl::Status s = ExpandSitemap(guard_, Url("/missing.xml"), options_, sink_);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;

  Serve("/broken.xml", "<urlset><url>");
  s = ExpandSitemap(guard_, Url("/broken.xml"), options_, sink_);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), StartsWith("sitemap " + Url("/broken.xml") + ": "));

  s = ExpandSitemap(guard_, "ftp://example.com/sitemap.xml", options_, sink_);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), StartsWith("sitemap_url"));

  // The guard applies: loopback is refused by default.
  s = ExpandSitemap(common::FetchGuard{}, Url("/index.xml"), options_, sink_);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_THAT(sink_.added, IsEmpty());
  EXPECT_THAT(sink_.rejected, IsEmpty());
}

TEST_F(ExpanderTest, ASinkErrorStopsTheSitemapAndIsReturned) {
  Serve("/sitemap.xml",
        Urlset({"https://example.com/1", "https://example.com/2", "https://example.com/3"}));
  sink_.fail_at = 2;
  const absl::Status s = ExpandSitemap(guard_, Url("/sitemap.xml"), options_, sink_);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_THAT(sink_.added, ElementsAre("https://example.com/1", "https://example.com/2"));
}

TEST_F(ExpanderTest, AStoppedSinkGetsNoFurtherSitemapFetched) {
  Serve("/index.xml", Index({Url("/one.xml"), Url("/two.xml")}));
  Serve("/one.xml", Urlset({"https://example.com/1"}));
  Serve("/two.xml", Urlset({"https://example.com/2"}));
  sink_.fail_at = 1;  // the first URL stops the sink
  (void)ExpandSitemap(guard_, Url("/index.xml"), options_, sink_);
  EXPECT_THAT(sink_.added, ElementsAre("https://example.com/1"));
  EXPECT_THAT(Requests(), Not(HasSubstr("/two.xml")));
}

constexpr char kMedia[] =
    "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MAP:URI=\"init.mp4\"\n"
    "#EXTINF:6,\nseg1.ts\n#EXTINF:6,\n/abs/seg2.ts\n#EXTINF:6,\nhttps://cdn.example/seg3.ts\n"
    "#EXT-X-ENDLIST\n";

TEST_F(ExpanderTest, AMediaPlaylistsSegmentsAreResolvedAgainstIt) {
  Serve("/v/media.m3u8", kMedia);
  const absl::Status s = ExpandPlaylist(guard_, Url("/v/media.m3u8"), options_, sink_, &summary_);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(sink_.added, ElementsAre(Url("/v/init.mp4"), Url("/v/seg1.ts"), Url("/abs/seg2.ts"),
                                       "https://cdn.example/seg3.ts"));
  EXPECT_EQ(summary_.found, 4u);
  EXPECT_EQ(summary_.kept, 4u);

  // With include_playlists the playlist itself comes first.
  RecordingSink with_playlists;
  options_.include_playlists = true;
  ASSERT_TRUE(ExpandPlaylist(guard_, Url("/v/media.m3u8"), options_, with_playlists).ok());
  EXPECT_THAT(with_playlists.added,
              ElementsAre(Url("/v/media.m3u8"), Url("/v/init.mp4"), Url("/v/seg1.ts"),
                          Url("/abs/seg2.ts"), "https://cdn.example/seg3.ts"));
}

TEST_F(ExpanderTest, AMasterPlaylistsRenditionsAreFollowedOnceEach) {
  Serve("/live/master.m3u8",
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nlow/index.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=5000\nhigh/index.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=1000,CODECS=\"x\"\n./low/index.m3u8\n");
  Serve("/live/low/index.m3u8", "#EXTM3U\n#EXTINF:4,\na.ts\n#EXTINF:4,\nb.ts\n");
  Serve("/live/high/index.m3u8", "#EXTM3U\n#EXTINF:4,\na.ts\n");
  options_.include_playlists = true;
  const absl::Status s =
      ExpandPlaylist(guard_, Url("/live/master.m3u8"), options_, sink_, &summary_);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(sink_.added, ElementsAre(Url("/live/master.m3u8"), Url("/live/low/index.m3u8"),
                                       Url("/live/low/a.ts"), Url("/live/low/b.ts"),
                                       Url("/live/high/index.m3u8"), Url("/live/high/a.ts")));
  EXPECT_THAT(sink_.rejected, IsEmpty());
  EXPECT_EQ(summary_.found, 6u);
}

TEST_F(ExpanderTest, BrokenOrNestedRenditionsAreRejectedAndTheOthersRead) {
  Serve("/m.m3u8",
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nmissing.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=2\nnested.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=3\nnot-hls.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=4\nok.m3u8\n");
  Serve("/nested.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nok.m3u8\n");
  Serve("/not-hls.m3u8", "<html>\n");
  Serve("/ok.m3u8", "#EXTM3U\n#EXTINF:4,\nok.ts\n");
  const absl::Status s = ExpandPlaylist(guard_, Url("/m.m3u8"), options_, sink_);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(sink_.added, ElementsAre(Url("/ok.ts")));
  ASSERT_EQ(sink_.rejected.size(), 3u);
  EXPECT_EQ(sink_.rejected[0].first, Url("/missing.m3u8"));
  EXPECT_THAT(sink_.rejected[0].second, HasSubstr("HTTP status 404"));
  EXPECT_THAT(
      sink_.rejected[1],
      Pair(Url("/nested.m3u8"), "a master playlist inside a master playlist is not followed"));
  EXPECT_EQ(sink_.rejected[2].first, Url("/not-hls.m3u8"));
  EXPECT_EQ(sink_.rejected[2].second,
            "playlist " + Url("/not-hls.m3u8") + ": playlist does not start with #EXTM3U");
}

TEST_F(ExpanderTest, APlaylistsMaxUrlsKeepsTheFirstAndCountsAll) {
  Serve("/v/media.m3u8", kMedia);
  options_.max_urls = 2;
  const absl::Status s = ExpandPlaylist(guard_, Url("/v/media.m3u8"), options_, sink_, &summary_);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(sink_.added, ElementsAre(Url("/v/init.mp4"), Url("/v/seg1.ts")));
  EXPECT_EQ(summary_.found, 4u);
  EXPECT_EQ(summary_.kept, 2u);
  EXPECT_TRUE(summary_.truncated());
}

TEST_F(ExpanderTest, APlaylistThatIsNotOneIsTheError) {
  Serve("/page.m3u8", "<html></html>\n");
  absl::Status s = ExpandPlaylist(guard_, Url("/page.m3u8"), options_, sink_);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message(),
            "playlist " + Url("/page.m3u8") + ": playlist does not start with #EXTM3U");

  s = ExpandPlaylist(guard_, "not a url", options_, sink_);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), StartsWith("playlist_url"));
  EXPECT_EQ(ExpandPlaylist(guard_, Url("/none.m3u8"), options_, sink_).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ExpanderTest, ASinkErrorStopsThePlaylist) {
  Serve("/v/media.m3u8", kMedia);
  sink_.fail_at = 2;
  (void)ExpandPlaylist(guard_, Url("/v/media.m3u8"), options_, sink_);
  EXPECT_THAT(sink_.added, ElementsAre(Url("/v/init.mp4"), Url("/v/seg1.ts")));
}

TEST_F(ExpanderTest, AStoppedSinkCancelsAMasterPlaylistBeforeItsRenditions) {
  Serve("/m.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow.m3u8\n");
  Serve("/low.m3u8", "#EXTM3U\n#EXTINF:4,\na.ts\n");
  sink_.stopped = true;
  const absl::Status s = ExpandPlaylist(guard_, Url("/m.m3u8"), options_, sink_);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_THAT(sink_.added, IsEmpty());
  EXPECT_THAT(Requests(), Not(HasSubstr("/low.m3u8")));
}

}  // namespace
}  // namespace cdnwarm::producer
