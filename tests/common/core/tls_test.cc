// common/core/tls: PEM files (made with the openssl tool for each run) checked with errors that
// name the flag and the file, and real TLS, mutual TLS and a certificate rotation between an
// in-process gRPC server and channel built from ServerCredentials and ChannelCredentials.

#include "common/core/tls.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/core/http_server.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "tests/support/fake_clock.h"
#include "tests/support/http_get.h"
#include "tests/support/nginx_server.h"

namespace cdnwarm::common {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

bool Openssl(const std::string& args) {
  const std::string command = absl::StrCat("openssl ", args, " >/dev/null 2>&1");
  return std::system(command.c_str()) == 0;
}

constexpr char kEcKey[] = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

// A self-signed CA: <dir>/<name>.crt and <dir>/<name>.key.
bool MakeCa(const std::string& dir, const std::string& name) {
  return Openssl(absl::StrCat("req -x509 ", kEcKey, " -days 2 -subj /CN=", name, " -keyout ", dir,
                              "/", name, ".key -out ", dir, "/", name, ".crt"));
}

// A certificate for localhost and 127.0.0.1 signed by <dir>/<ca>: <dir>/<name>.crt and .key.
bool MakeLeaf(const std::string& dir, const std::string& name, const std::string& ca, int serial) {
  cdnwarm::testing::WriteFile(absl::StrCat(dir, "/san.ext"),
                              "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  const std::string base = absl::StrCat(dir, "/", name);
  return Openssl(absl::StrCat("req -new ", kEcKey, " -subj /CN=", name, " -keyout ", base,
                              ".key -out ", base, ".csr")) &&
         Openssl(absl::StrCat("x509 -req -days 2 -set_serial ", serial, " -in ", base, ".csr -CA ",
                              dir, "/", ca, ".crt -CAkey ", dir, "/", ca, ".key -extfile ", dir,
                              "/san.ext -out ", base, ".crt"));
}

// Answers Check with SERVING: an RPC that comes back OK crossed the TLS handshake.
class Serving final : public Health::Service {
  grpc::Status Check(grpc::ServerContext*, const HealthCheckRequest*,
                     HealthCheckResponse* response) override {
    response->set_status(HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }
};

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(cdnwarm::testing::MakeTempDir("tls"));
    const std::string& d = *dir_;
    ok_ = MakeCa(d, "ca") && MakeCa(d, "other-ca") && MakeLeaf(d, "server", "ca", 1) &&
          MakeLeaf(d, "client", "ca", 2) && MakeLeaf(d, "stranger", "other-ca", 3) &&
          Openssl(absl::StrCat("pkey -in ", d, "/server.key -aes256 -passout pass:secret -out ", d,
                               "/encrypted.key"));
    cdnwarm::testing::WriteFile(d + "/garbage.pem", "not a PEM file\n");
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(ok_) << "openssl could not make the test PKI in " << *dir_; }

  static std::string Path(const std::string& file) { return absl::StrCat(*dir_, "/", file); }

  static TlsFiles Files(const std::string& cert, const std::string& key, const std::string& ca) {
    TlsFiles t;
    t.cert_file = cert.empty() ? "" : Path(cert);
    t.key_file = key.empty() ? "" : Path(key);
    t.ca_file = ca.empty() ? "" : Path(ca);
    return t;
  }

  // Starts a server on loopback with `credentials`; port() is where it listens.
  void StartServer(const std::shared_ptr<grpc::ServerCredentials>& credentials) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }

  // One Check over a new channel with `credentials`. With `wait_for_ready` the call waits
  // (up to `timeout`) through failed handshakes for one that succeeds.
  grpc::Status Call(const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                    bool wait_for_ready = false, absl::Duration timeout = absl::Seconds(10)) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // no connection shared across tests
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
    auto stub = Health::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port_), credentials, args));
    grpc::ClientContext context;
    context.set_wait_for_ready(wait_for_ready);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
    HealthCheckResponse response;
    grpc::Status s = stub->Check(&context, HealthCheckRequest(), &response);
    if (s.ok()) {
      EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
    }
    return s;
  }

  static std::shared_ptr<grpc::ChannelCredentials> Channel(const TlsFiles& files) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> c = ChannelCredentials(files);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : nullptr;
  }

  static std::string* dir_;
  static bool ok_;
  Serving service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

std::string* TlsTest::dir_ = nullptr;
bool TlsTest::ok_ = false;

TEST_F(TlsTest, AMatchingCertificateKeyAndCaPass) {
  EXPECT_TRUE(CheckTlsFiles(Files("server.crt", "server.key", "ca.crt")).ok());
  EXPECT_TRUE(CheckServerTls(Files("server.crt", "server.key", "ca.crt")).ok());
  EXPECT_TRUE(CheckServerTls(Files("server.crt", "server.key", "")).ok());
  EXPECT_TRUE(CheckTlsFiles(TlsFiles{}).ok());
}

TEST_F(TlsTest, ACertificateWithoutItsKeyNamesBothFlags) {
  absl::Status s = CheckTlsFiles(Files("server.crt", "", ""));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "--tls_cert_file and --tls_key_file must be set together");

  TlsFiles key_only = Files("", "server.key", "");
  key_only.cert_flag = "bridge_tls_cert_file";
  key_only.key_flag = "bridge_tls_key_file";
  s = CheckTlsFiles(key_only);
  EXPECT_EQ(s.message(), "--bridge_tls_cert_file and --bridge_tls_key_file must be set together");
}

TEST_F(TlsTest, AFileThatCannotBeReadNamesTheFlagAndThePath) {
  const std::string missing = Path("no-such.crt");
  TlsFiles files = Files("server.crt", "server.key", "");
  files.cert_file = missing;
  absl::Status s = CheckTlsFiles(files);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), absl::StrCat("--tls_cert_file=", missing,
                                      ": cannot be read (missing or not permitted)"));

  files = Files("server.crt", "server.key", "");
  files.key_file = Path("no-such.key");
  EXPECT_THAT(std::string(CheckTlsFiles(files).message()),
              HasSubstr(absl::StrCat("--tls_key_file=", files.key_file, ": cannot be read")));

  files = Files("server.crt", "server.key", "");
  files.ca_file = Path("no-such-ca.crt");
  files.ca_flag = "tls_client_ca_file";
  EXPECT_THAT(std::string(CheckTlsFiles(files).message()),
              HasSubstr(absl::StrCat("--tls_client_ca_file=", files.ca_file, ": cannot be read")));
}

TEST_F(TlsTest, AFileOfTheWrongKindIsRefused) {
  // A key where the certificate belongs, garbage as the CA.
  absl::Status s = CheckTlsFiles(Files("server.key", "server.key", ""));
  EXPECT_EQ(s.message(),
            absl::StrCat("--tls_cert_file=", Path("server.key"), ": holds no PEM certificate"));
  s = CheckTlsFiles(Files("", "", "garbage.pem"));
  EXPECT_EQ(s.message(),
            absl::StrCat("--tls_ca_file=", Path("garbage.pem"), ": holds no PEM certificate"));
  // A certificate where the key belongs.
  s = CheckTlsFiles(Files("server.crt", "server.crt", ""));
  EXPECT_EQ(s.message(), absl::StrCat("--tls_key_file=", Path("server.crt"),
                                      ": holds no unencrypted PEM private key"));
}

TEST_F(TlsTest, AnEncryptedKeyIsRefusedWithoutPrompting) {
  const absl::Status s = CheckTlsFiles(Files("server.crt", "encrypted.key", ""));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), absl::StrCat("--tls_key_file=", Path("encrypted.key"),
                                      ": holds no unencrypted PEM private key"));
}

TEST_F(TlsTest, AKeyOfAnotherCertificateDoesNotMatch) {
  const absl::Status s = CheckTlsFiles(Files("server.crt", "client.key", ""));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), absl::StrCat("--tls_key_file=", Path("client.key"),
                                      ": does not match --tls_cert_file"));
}

TEST_F(TlsTest, AServerCaWithoutACertificateIsRefusedButAClientCaIsNot) {
  TlsFiles ca_only = Files("", "", "ca.crt");
  ca_only.ca_flag = "tls_client_ca_file";
  const absl::Status s = CheckServerTls(ca_only);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "--tls_client_ca_file needs --tls_cert_file and --tls_key_file (mutual TLS is TLS "
            "first)");
  EXPECT_EQ(ServerCredentials(ca_only).status(), s);
  // A client's CA alone is its roots.
  EXPECT_TRUE(CheckTlsFiles(ca_only).ok());
  EXPECT_TRUE(ChannelCredentials(ca_only).ok());
}

TEST_F(TlsTest, CredentialsAreRefusedWithTheCheckError) {
  const TlsFiles bad = Files("server.crt", "client.key", "");
  EXPECT_EQ(ServerCredentials(bad).status(), CheckTlsFiles(bad));
  EXPECT_EQ(ChannelCredentials(bad).status(), CheckTlsFiles(bad));
  EXPECT_FALSE(ServerCredentials(bad).ok());
}

TEST_F(TlsTest, NoFilesServesPlaintext) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server = ServerCredentials(TlsFiles{});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_NO_FATAL_FAILURE(StartServer(*server));
  const grpc::Status s = Call(grpc::InsecureChannelCredentials());
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(TlsTest, TlsServerAnswersAChannelTrustingItsCaOnly) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server =
      ServerCredentials(Files("server.crt", "server.key", ""));
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_NO_FATAL_FAILURE(StartServer(*server));

  grpc::Status s = Call(Channel(Files("", "", "ca.crt")));
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = Call(Channel(Files("", "", "other-ca.crt")));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  s = Call(grpc::InsecureChannelCredentials());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromTheCa) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server =
      ServerCredentials(Files("server.crt", "server.key", "ca.crt"));
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_NO_FATAL_FAILURE(StartServer(*server));

  grpc::Status s = Call(Channel(Files("client.crt", "client.key", "ca.crt")));
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = Call(Channel(Files("", "", "ca.crt")));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // Signed by a CA the server does not trust.
  s = Call(Channel(Files("stranger.crt", "stranger.key", "ca.crt")));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(TlsTest, ARotatedCertificateIsServedWithoutRestart) {
  // The server starts with a certificate from "other-ca", which the client does not trust.
  const std::string live = cdnwarm::testing::MakeTempDir("tls-live");
  const auto install = [&](const std::string& name) {
    for (const char* ext : {".crt", ".key"}) {
      std::filesystem::copy_file(Path(name + ext), absl::StrCat(live, "/next", ext),
                                 std::filesystem::copy_options::overwrite_existing);
      std::filesystem::rename(absl::StrCat(live, "/next", ext), absl::StrCat(live, "/tls", ext));
    }
  };
  install("stranger");
  TlsFiles files;
  files.cert_file = live + "/tls.crt";
  files.key_file = live + "/tls.key";
  files.reload_interval = absl::Seconds(1);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server = ServerCredentials(files);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_NO_FATAL_FAILURE(StartServer(*server));
  const std::shared_ptr<grpc::ChannelCredentials> client = Channel(Files("", "", "ca.crt"));
  grpc::Status s = Call(client);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();

  // The Secret is updated: the next handshakes present the certificate from "ca".
  install("server");
  s = Call(client, /*wait_for_ready=*/true, absl::Seconds(30));
  EXPECT_TRUE(s.ok()) << s.error_message();
  std::filesystem::remove_all(live);
}

// The console's HTTPS: HttpServer with a ServerCertificate.
class HttpsTest : public TlsTest {
 protected:
  void Serve(std::shared_ptr<ServerCertificate> certificate) {
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start("127.0.0.1:0",
                          [](const HttpRequest& request) {
                            return HttpResponse{.body = absl::StrCat("hello ", request.path)};
                          },
                          {.certificate = std::move(certificate)});
    ASSERT_TRUE(server.ok()) << server.status();
    http_ = *std::move(server);
  }
  std::string Url() const { return absl::StrCat("https://127.0.0.1:", http_->port(), "/x"); }

  cdnwarm::testing::FakeClock clock_;
  std::unique_ptr<HttpServer> http_;
};

TEST_F(HttpsTest, ServesHttpsWithTheCertificateAndNoPlainHttp) {
  absl::StatusOr<std::shared_ptr<ServerCertificate>> certificate =
      ServerCertificate::Load(Files("server.crt", "server.key", ""), clock_);
  ASSERT_TRUE(certificate.ok()) << certificate.status();
  ASSERT_NO_FATAL_FAILURE(Serve(*std::move(certificate)));  // the server keeps it alive

  const cdnwarm::testing::HttpResult ok = cdnwarm::testing::HttpsGet(Url(), Path("ca.crt"));
  EXPECT_EQ(ok.error, "");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "hello /x");
  // A client that trusts another CA refuses the handshake.
  EXPECT_NE(cdnwarm::testing::HttpsGet(Url(), Path("other-ca.crt")).error, "");
  // Plain HTTP on the HTTPS port gets no page.
  const cdnwarm::testing::HttpResult plain =
      cdnwarm::testing::HttpGet(absl::StrCat("http://127.0.0.1:", http_->port(), "/x"));
  EXPECT_NE(plain.status, 200);
  EXPECT_THAT(plain.body, ::testing::Not(HasSubstr("hello")));
}

TEST_F(HttpsTest, LoadNamesTheFlagOfABadFile) {
  absl::StatusOr<std::shared_ptr<ServerCertificate>> mismatched =
      ServerCertificate::Load(Files("server.crt", "client.key", ""), clock_);
  EXPECT_THAT(mismatched.status().message(), HasSubstr("does not match --tls_cert_file"));
  absl::StatusOr<std::shared_ptr<ServerCertificate>> missing =
      ServerCertificate::Load(Files("missing.crt", "server.key", ""), clock_);
  EXPECT_THAT(missing.status().message(), HasSubstr("--tls_cert_file="));
}

TEST_F(HttpsTest, ARotatedCertificateIsServedAfterTheIntervalAndABrokenOneIsNot) {
  const std::string live = cdnwarm::testing::MakeTempDir("https-live");
  const auto install = [&](const std::string& cert, const std::string& key) {
    std::filesystem::copy_file(Path(cert), live + "/tls.crt",
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(Path(key), live + "/tls.key",
                               std::filesystem::copy_options::overwrite_existing);
  };
  install("stranger.crt", "stranger.key");
  TlsFiles files;
  files.cert_file = live + "/tls.crt";
  files.key_file = live + "/tls.key";
  files.reload_interval = absl::Seconds(60);
  absl::StatusOr<std::shared_ptr<ServerCertificate>> certificate =
      ServerCertificate::Load(files, clock_);
  ASSERT_TRUE(certificate.ok()) << certificate.status();
  ASSERT_NO_FATAL_FAILURE(Serve(*std::move(certificate)));
  const std::string ca = Path("ca.crt");
  EXPECT_NE(cdnwarm::testing::HttpsGet(Url(), ca).error, "");  // "other-ca" signed it

  // Rotated, but the interval has not passed: the old certificate is still served.
  install("server.crt", "server.key");
  clock_.Advance(absl::Seconds(59));
  EXPECT_NE(cdnwarm::testing::HttpsGet(Url(), ca).error, "");
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(cdnwarm::testing::HttpsGet(Url(), ca).status, 200);

  // A rotation caught half done (the key of another certificate) keeps the good pair.
  install("stranger.crt", "server.key");
  clock_.Advance(absl::Seconds(60));
  EXPECT_EQ(cdnwarm::testing::HttpsGet(Url(), ca).status, 200);
  std::filesystem::remove_all(live);
}

}  // namespace
}  // namespace cdnwarm::common
