// The HLS playlist parser behind WarmPlaylist.

#include "producer/hls_playlist.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::producer {
namespace {

using ::testing::ElementsAre;

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

}  // namespace
}  // namespace cdnwarm::producer
