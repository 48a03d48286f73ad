// ConsoleServer and its JsonGateway against a real gRPC server holding a stand-in Producer
// service (the real one is driven in tests/producer/console_api_test.cc): JSON in and out by
// protobuf's mapping, client and server streaming, errors as HTTP statuses with the gRPC
// code and message, the Authorization header and the browser's address passed through,
// streams ended by Shutdown,
// and the page's files with their security headers.

#include "common/web/console_server.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cdnwarm/v1/producer.grpc.pb.h"
#include "common/core/contract.h"
#include "gmock/gmock.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "tests/support/http_get.h"
#include "tests/support/notification.h"

namespace cdnwarm::web {
namespace {

using ::cdnwarm::testing::HttpGet;
using ::cdnwarm::testing::HttpResult;
using ::cdnwarm::testing::HttpSend;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
namespace v1 = ::cdnwarm::v1;

// Warm answers a job id made of the URL and the caller's authorization; WarmBatch rejects
// entries without a URL; WatchJob streams as many jobs as its job id says, then fails
// NOT_FOUND (at once when negative), or holds its stream open until cancelled when 0 or
// when an "h" follows the number.
class StandInProducer final : public v1::Producer::CallbackService {
 public:
  grpc::ServerUnaryReactor* Warm(grpc::CallbackServerContext* ctx, const v1::WarmRequest* req,
                                 v1::WarmReply* reply) override {
    auto* reactor = ctx->DefaultReactor();
    const auto auth = ctx->client_metadata().find("authorization");
    if (auth == ctx->client_metadata().end()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no bearer token"));
      return reactor;
    }
    if (req->url().empty()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "url: empty"));
      return reactor;
    }
    const auto browser = ctx->client_metadata().find(common::kConsoleClientMetadata);
    const std::string client = browser == ctx->client_metadata().end()
                                   ? "-"
                                   : std::string(browser->second.data(), browser->second.size());
    reply->set_job_id(absl::StrCat(
        req->url(), "|", std::string(auth->second.data(), auth->second.size()), "|", client));
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerReadReactor<v1::WarmRequest>* WarmBatch(grpc::CallbackServerContext*,
                                                      v1::WarmBatchReply* reply) override {
    class Reader : public grpc::ServerReadReactor<v1::WarmRequest> {
     public:
      explicit Reader(v1::WarmBatchReply* reply) : reply_(reply) { StartRead(&request_); }
      void OnReadDone(bool ok) override {
        if (!ok) {
          reply_->set_job_id("batch");
          Finish(grpc::Status::OK);
          return;
        }
        if (request_.url().empty()) {
          v1::Rejection* r = reply_->add_rejected();
          r->set_index(index_);
          r->set_reason("url: empty");
        } else {
          reply_->set_accepted(reply_->accepted() + 1);
        }
        ++index_;
        StartRead(&request_);
      }
      void OnDone() override { delete this; }

     private:
      v1::WarmBatchReply* reply_;
      v1::WarmRequest request_;
      uint32_t index_ = 0;
    };
    return new Reader(reply);
  }

  grpc::ServerWriteReactor<v1::Job>* WatchJob(grpc::CallbackServerContext*,
                                              const v1::WatchJobRequest* req) override {
    class Writer : public grpc::ServerWriteReactor<v1::Job> {
     public:
      Writer(StandInProducer* service, std::string id, int count, bool hold)
          : service_(service), count_(count), hold_(hold) {
        job_.set_job_id(std::move(id));
        ++service_->open_watches;
        if (count_ == 0) {
          service_->watch_opened.Notify();  // held open: ends only when cancelled
        } else {
          Next();
        }
      }
      void OnWriteDone(bool ok) override {
        if (!ok) return End(grpc::Status::CANCELLED);
        Next();
      }
      void OnCancel() override {
        service_->watch_cancelled.Notify();
        End(grpc::Status::CANCELLED);
      }
      void OnDone() override {
        --service_->open_watches;
        delete this;
      }

     private:
      // Finish, once: a cancel and a failed write may both want to.
      void End(const grpc::Status& status) {
        if (!finished_.exchange(true)) Finish(status);
      }
      void Next() {
        if (hold_ && sent_ == count_) return;  // held open until cancelled
        if (count_ < 0 || sent_ == count_) {
          return End(grpc::Status(grpc::StatusCode::NOT_FOUND, "gone"));
        }
        job_.set_total_tasks(++sent_);
        StartWrite(&job_);
      }
      StandInProducer* service_;
      const int count_;
      const bool hold_;
      std::atomic<bool> finished_{false};
      int sent_ = 0;
      v1::Job job_;
    };
    // The job id's number is how many to send; an "h" after it holds the stream open.
    return new Writer(this, req->job_id(), std::atoi(req->job_id().c_str()),
                      absl::EndsWith(req->job_id(), "h"));
  }

  std::atomic<int> open_watches{0};
  testing::Notification watch_opened;
  testing::Notification watch_cancelled;
};

class ConsoleServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("console_test_", ::getpid(), "_", counter_++);
    std::filesystem::create_directories(dir_ / "assets");
    std::ofstream(dir_ / "index.html") << "<!doctype html><title>cdnwarm</title>";
    std::ofstream(dir_ / "assets" / "app-1234.js") << "console.log(1)";

    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto console = ConsoleServer::Start(
        {.address = "127.0.0.1:0",
         .files_dir = dir_.string(),
         .routes = {{.service = "cdnwarm.v1.Producer",
                     .channel = server_->InProcessChannel(grpc::ChannelArguments())}},
         .gateway = {.heartbeat = absl::Milliseconds(100)}});
    ASSERT_TRUE(console.ok()) << console.status();
    console_ = *std::move(console);
  }
  void TearDown() override {
    console_.reset();
    if (server_) server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  std::string Url(absl::string_view path) const {
    return absl::StrCat("http://127.0.0.1:", console_->port(), path);
  }
  HttpResult Post(absl::string_view method, const std::string& body,
                  std::vector<std::string> headers = {"Authorization: Bearer t0ken"}) {
    headers.push_back("Content-Type: application/json");
    return HttpSend("POST", Url(absl::StrCat("/v1/cdnwarm.v1.Producer/", method)), body, headers);
  }

  // WatchJob of `job_id` on a raw connection, read until `until`; then the connection closes.
  std::string WatchUntil(absl::string_view job_id, absl::string_view until) const {
    const std::string body = absl::StrCat(R"({"jobId": ")", job_id, "\"}");
    return testing::RawHttpUntil(
        console_->port(),
        absl::StrCat("POST /v1/cdnwarm.v1.Producer/WatchJob HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\nContent-Length: ",
                     body.size(), "\r\n\r\n", body),
        std::string_view(until.data(), until.size()));
  }

  static inline int counter_ = 0;
  std::filesystem::path dir_;
  StandInProducer service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ConsoleServer> console_;
};

TEST_F(ConsoleServerTest, AUnaryCallIsJsonInAndJsonOutWithTheAuthorizationAndBrowserPassedOn) {
  const HttpResult r =
      Post("Warm",
           R"({"url": "https://a.example/x", "options": {"ttl": "5s", "targetRegions": ["eu"]}})");
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, R"({"jobId":"https://a.example/x|Bearer t0ken|127.0.0.1"})");
}

TEST_F(ConsoleServerTest, GrpcErrorsAreHttpStatusesWithCodeAndMessage) {
  const HttpResult unauthenticated = Post("Warm", R"({"url": "https://a.example/"})", {});
  EXPECT_EQ(unauthenticated.status, 401);
  EXPECT_EQ(unauthenticated.body,
            R"({"code":16,"status":"UNAUTHENTICATED","message":"no bearer token"})");
  const HttpResult invalid = Post("Warm", R"({"url": ""})");
  EXPECT_EQ(invalid.status, 400);
  EXPECT_THAT(invalid.body, HasSubstr(R"("message":"url: empty")"));
}

TEST_F(ConsoleServerTest, BadJsonIsRefusedNamingWhatWasWrongAndNeverCalls) {
  const HttpResult unknown = Post("Warm", R"({"url": "https://a.example/", "colour": 1})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_THAT(unknown.body, HasSubstr("colour"));
  const HttpResult broken = Post("Warm", R"({"url": )");
  EXPECT_EQ(broken.status, 400);
  EXPECT_THAT(broken.body, HasSubstr(R"("status":"INVALID_ARGUMENT")"));
  const HttpResult batch_not_array = Post("WarmBatch", R"({"url": "https://a.example/"})");
  EXPECT_EQ(batch_not_array.status, 400);
  EXPECT_THAT(batch_not_array.body, HasSubstr("JSON array of WarmRequest"));
  const HttpResult bad_entry =
      Post("WarmBatch", R"([{"url": "https://a.example/"}, {"url": 7, "x": 1}])");
  EXPECT_EQ(bad_entry.status, 400);
  EXPECT_THAT(bad_entry.body, HasSubstr("entry 1: "));
}

TEST_F(ConsoleServerTest, PathsMethodsAndContentTypesAreChecked) {
  EXPECT_EQ(Post("Nope", "{}").status, 404);
  EXPECT_EQ(
      HttpSend("POST", Url("/v1/cdnwarm.v1.Bridge/Seek"), "{}", {"Content-Type: application/json"})
          .status,
      404)
      << "a service not routed";
  EXPECT_EQ(HttpGet(Url("/v1/cdnwarm.v1.Producer/Warm")).status, 405);
  const HttpResult form = HttpSend("POST", Url("/v1/cdnwarm.v1.Producer/Warm"), "url=x",
                                   {"Content-Type: application/x-www-form-urlencoded"});
  EXPECT_EQ(form.status, 415) << "a cross-origin form cannot post without a preflight";
  const HttpResult control =
      Post("Warm", R"({"url":"https://a.example/"})", {"Authorization: Bearer a\x01z"});
  EXPECT_THAT(control.status, ::testing::AnyOf(400, 401)) << "a control character in a header";
}

TEST_F(ConsoleServerTest, AClientStreamingCallTakesAnArrayInOrder) {
  const HttpResult r =
      Post("WarmBatch",
           R"([{"url": "https://a.example/1"}, {"url": ""}, {"url": "https://a.example/3"}])");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body,
            R"({"jobId":"batch","accepted":2,"rejected":[{"index":1,"reason":"url: empty"}]})");
  const HttpResult empty = Post("WarmBatch", "[]");
  EXPECT_EQ(empty.body, R"({"jobId":"batch"})");
}

TEST_F(ConsoleServerTest, AServerStreamIsServerSentEventsEndingWithTheStatus) {
  const HttpResult r = Post("WatchJob", R"({"jobId": "3"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "text/event-stream");
  EXPECT_EQ(r.body,
            "data: {\"jobId\":\"3\",\"totalTasks\":\"1\"}\n\n"
            "data: {\"jobId\":\"3\",\"totalTasks\":\"2\"}\n\n"
            "data: {\"jobId\":\"3\",\"totalTasks\":\"3\"}\n\n"
            "event: status\ndata: {\"code\":5,\"status\":\"NOT_FOUND\",\"message\":\"gone\"}\n\n");
}

TEST_F(ConsoleServerTest, AStreamThatFailsBeforeItsFirstMessageIsAnHttpError) {
  const HttpResult none = Post("WatchJob", R"({"jobId": "-1"})");
  EXPECT_EQ(none.status, 404) << none.body;
  EXPECT_EQ(none.content_type, "application/json");
}

TEST_F(ConsoleServerTest, ShutdownEndsTheStreamsUnderWayAndRefusesNewCalls) {
  HttpResult held;
  std::thread watcher([&] { held = Post("WatchJob", R"({"jobId": "0"})"); });
  ASSERT_TRUE(service_.watch_opened.WaitForNotificationWithTimeout(absl::Seconds(30)));
  console_->Shutdown();
  ASSERT_TRUE(service_.watch_cancelled.WaitForNotificationWithTimeout(absl::Seconds(30)));
  watcher.join();
  EXPECT_EQ(held.status, 503) << "cancelled before its first message: " << held.body;
  EXPECT_THAT(held.body, HasSubstr(R"("status":"CANCELLED")"));
  EXPECT_EQ(Post("Warm", R"({"url": "https://a.example/"})").status, 503);
  EXPECT_THAT(HttpGet(Url("/")).body, HasSubstr("<title>cdnwarm</title>"))
      << "the page is still served";
}

TEST_F(ConsoleServerTest, AClientThatGoesAwayHasItsStreamCancelled) {
  const std::string got = WatchUntil("1h", "\"totalTasks\":\"1\"}");
  EXPECT_THAT(got, HasSubstr("data: {\"jobId\":\"1h\",\"totalTasks\":\"1\"}"));
  // The stream is quiet (the service holds it); the gateway's heartbeat finds the client
  // gone and cancels the call.
  EXPECT_TRUE(service_.watch_cancelled.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

TEST_F(ConsoleServerTest, AQuietStreamSendsHeartbeats) {
  const std::string got = WatchUntil("1h", ":\n\n");
  EXPECT_THAT(got, HasSubstr("}\n\n\r\n3\r\n:\n\n")) << "a comment chunk after the message";
}

TEST_F(ConsoleServerTest, FilesCarryTheSecurityHeadersAndConsolePathsAreThePage) {
  const HttpResult page = HttpGet(Url("/"));
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_THAT(page.body, HasSubstr("<title>cdnwarm</title>"));
  const HttpResult script = HttpGet(Url("/assets/app-1234.js"));
  EXPECT_EQ(script.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(script.body, "console.log(1)");
  EXPECT_THAT(HttpGet(Url("/jobs/abc")).body, HasSubstr("<title>cdnwarm</title>"));
  EXPECT_EQ(HttpGet(Url("/assets/missing.js")).status, 404);
  EXPECT_EQ(HttpSend("DELETE", Url("/"), "").status, 405);
  for (const std::string path : {"/", "/v1/nope"}) {
    const std::string raw = testing::RawHttpUntil(
        console_->port(), absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\n\r\n"), "\r\n\r\n");
    EXPECT_THAT(raw, HasSubstr("Content-Security-Policy: default-src 'self'; script-src 'self'; "
                               "style-src 'self';"))
        << path;
    EXPECT_THAT(raw, HasSubstr("X-Content-Type-Options: nosniff")) << path;
    EXPECT_THAT(raw, HasSubstr("frame-ancestors 'none'")) << path;
  }
}

TEST(ConsoleServerStartTest, AFolderWithoutTheBuiltPageIsNamed) {
  auto console = ConsoleServer::Start({.address = "127.0.0.1:0", .files_dir = "/nonexistent"});
  ASSERT_FALSE(console.ok());
  EXPECT_THAT(console.status().message(), HasSubstr("\"/nonexistent\" has no index.html"));
}

TEST(ConsoleServerStartTest, AServiceOrMethodNotInTheContractsIsNamed) {
  auto none = JsonGateway::Create({{.service = "cdnwarm.v1.Nope"}});
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("cdnwarm.v1.Nope"));
  auto method = JsonGateway::Create({{.service = "cdnwarm.v1.Producer", .methods = {"Nope"}}});
  ASSERT_FALSE(method.ok());
  EXPECT_THAT(method.status().message(), HasSubstr("no method Nope"));
}

}  // namespace
}  // namespace cdnwarm::web
