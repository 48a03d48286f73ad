// HttpServer (cpp-httplib): requests reach the handler with method, path, query, headers and
// body; responses carry status, type and extra headers; bodies are bounded; several
// requests are served at once; addresses are checked and a taken port is named.

#include "common/core/http_server.h"

#include <atomic>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/http_get.h"
#include "tests/support/notification.h"

namespace cdnwarm::common {
namespace {

using ::cdnwarm::testing::HttpGet;
using ::cdnwarm::testing::HttpSend;
using ::testing::HasSubstr;

std::string Url(const HttpServer& server, absl::string_view path) {
  return absl::StrCat("http://127.0.0.1:", server.port(), path);
}

TEST(HttpServerTest, TheHandlerSeesTheWholeRequest) {
  auto server = HttpServer::Start("127.0.0.1:0", [](const HttpRequest& req) {
    HttpResponse r;
    r.content_type = "application/json";
    const std::string* token = req.Header("AUTHORIZATION");
    r.body = absl::StrCat(req.method, " ", req.path, " ? ", req.query, " | ", req.body, " | ",
                          token != nullptr ? *token : "-");
    r.headers.emplace_back("X-Test", "yes");
    r.status = 201;
    return r;
  });
  ASSERT_TRUE(server.ok()) << server.status();
  const auto r = HttpSend("POST", Url(**server, "/v1/warm?x=1"), "{\"url\":1}",
                          {"Authorization: Bearer abc", "Content-Type: application/json"});
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, "POST /v1/warm ? x=1 | {\"url\":1} | Bearer abc");
  const auto head = HttpSend("HEAD", Url(**server, "/x"), "");
  EXPECT_EQ(head.status, 201);
  EXPECT_EQ(head.body, "") << "HEAD has no body";
}

TEST(HttpServerTest, ABodyOverTheLimitIs413AndNeverReachesTheHandler) {
  std::atomic<int> calls{0};
  HttpServerOptions options;
  options.max_body_bytes = 100;
  auto server = HttpServer::Start(
      "127.0.0.1:0",
      [&](const HttpRequest&) {
        ++calls;
        return HttpResponse{};
      },
      options);
  ASSERT_TRUE(server.ok()) << server.status();
  const auto big = HttpSend("POST", Url(**server, "/"), std::string(101, 'x'));
  EXPECT_EQ(big.status, 413);
  EXPECT_THAT(big.body, HasSubstr("larger than 100 bytes"));
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(HttpSend("POST", Url(**server, "/"), std::string(100, 'x')).status, 200);
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpServerTest, ServesSeveralRequestsAtOnce) {
  // Each request waits until the other has arrived: one thread at a time would deadlock
  // (and the test would fail by curl's timeout).
  std::atomic<int> arrived{0};
  cdnwarm::testing::Notification both;
  HttpServerOptions options;
  options.threads = 2;
  auto server = HttpServer::Start(
      "127.0.0.1:0",
      [&](const HttpRequest&) {
        if (++arrived == 2) both.Notify();
        HttpResponse r;
        r.body = both.WaitForNotificationWithTimeout(absl::Seconds(4)) ? "together" : "alone";
        return r;
      },
      options);
  ASSERT_TRUE(server.ok()) << server.status();
  cdnwarm::testing::HttpResult a;
  std::thread t([&] { a = HttpGet(Url(**server, "/a")); });
  const auto b = HttpGet(Url(**server, "/b"));
  t.join();
  EXPECT_EQ(a.body, "together");
  EXPECT_EQ(b.body, "together");
}

TEST(HttpServerTest, BadAndTakenAddressesAreRefusedClearly) {
  const HttpHandler handler = [](const HttpRequest&) { return HttpResponse{}; };
  auto s = HttpServer::Start("no-port", handler);
  EXPECT_THAT(s.status().message(), HasSubstr("no port"));
  s = HttpServer::Start("127.0.0.1:70000", handler);
  EXPECT_THAT(s.status().message(), HasSubstr("0..65535"));
  s = HttpServer::Start("no.such.host.invalid:80", handler);
  EXPECT_THAT(s.status().message(), HasSubstr("no.such.host.invalid"));

  auto first = HttpServer::Start("127.0.0.1:0", handler);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_GT((*first)->port(), 0) << "port 0 picks a free port and reports it";
  s = HttpServer::Start(absl::StrCat("127.0.0.1:", (*first)->port()), handler);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.status().message(), HasSubstr(absl::StrCat("127.0.0.1:", (*first)->port())));
  EXPECT_THAT(s.status().message(), HasSubstr("choose another"));
}

TEST(HttpServerTest, AnEmptyHostListensOnEveryInterface) {
  const HttpHandler handler = [](const HttpRequest&) { return HttpResponse{}; };
  auto any = HttpServer::Start(":0", handler);
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_EQ(HttpGet(Url(**any, "/")).status, 200);
}

TEST(SplitHostPortTest, Forms) {
  std::string host;
  int port = 0;
  ASSERT_TRUE(SplitHostPort("[::1]:9101", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 9101);
  ASSERT_TRUE(SplitHostPort(":9102", &host, &port).ok());
  EXPECT_EQ(host, "");
  EXPECT_EQ(port, 9102);
  EXPECT_FALSE(SplitHostPort("h:-1", &host, &port).ok());
  EXPECT_FALSE(SplitHostPort("h:abc", &host, &port).ok());
}

TEST(HttpServerTest, AStreamedBodyArrivesChunkByChunk) {
  auto server = HttpServer::Start("127.0.0.1:0", [](const HttpRequest&) {
    HttpResponse r;
    r.content_type = "text/event-stream";
    r.stream = [](HttpBodyWriter& out) {
      for (int i = 0; i < 3; ++i) ASSERT_TRUE(out.Write(absl::StrCat("part", i, "\n")));
      EXPECT_TRUE(out.Write("")) << "an empty write is no chunk, not the end";
    };
    return r;
  });
  ASSERT_TRUE(server.ok()) << server.status();
  const auto r = HttpGet(Url(**server, "/"));
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/event-stream");
  EXPECT_EQ(r.body, "part0\npart1\npart2\n");
}

}  // namespace
}  // namespace cdnwarm::common
