// The producer when its broker goes away and comes back. Uses a broker of its own (started,
// stopped and resumed here with scripts/kafka.sh), so the shared test broker stays up.

#include <stdlib.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cdnwarm/v1/producer.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "producer/producer_app.h"
#include "tests/support/kafka_test_client.h"

namespace cdnwarm::producer {
namespace {

// Set by tests/CMakeLists.txt.
constexpr const char* kKafkaSh = CDNWARM_KAFKA_SH;
constexpr const char* kBrokerDir = CDNWARM_OUTAGE_KAFKA_DIR;
constexpr const char* kBrokerPort = CDNWARM_OUTAGE_KAFKA_PORT;

int Kafka(const std::string& verb) {
  const std::string cmd =
      absl::StrCat(kKafkaSh, " ", verb, " ", kBrokerDir, " ", verb == "start" ? kBrokerPort : "");
  return std::system(cmd.c_str());
}

grpc::Status Warm(cdnwarm::v1::Producer::Stub& stub, absl::Duration timeout,
                  cdnwarm::v1::WarmReply* reply) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  cdnwarm::v1::WarmRequest req;
  req.set_url("https://example.com/outage");
  return stub.Warm(&ctx, req, reply);
}

class ProducerOutageTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(Kafka("start"), 0); }
  void TearDown() override { Kafka("stop"); }
};

TEST_F(ProducerOutageTest, UnavailableWithinTheDeadlineThenRecoversWithoutRestart) {
  ProducerConfig c;
  c.common.service = "producer";
  c.kafka.properties.Set("bootstrap.servers", absl::StrCat("127.0.0.1:", kBrokerPort));
  // librdkafka spaces its reconnects out up to 10 s while the broker is away: the Warm after
  // its return should not sit out the rest of one.
  c.kafka.properties.Set("reconnect.backoff.max.ms", "500");
  c.kafka.requests_topic = "outage.requests";
  c.kafka.results_topic = "outage.results";
  c.kafka.dead_letter_topic = "outage.dlq";
  c.common.server.drain_timeout = absl::Seconds(1);
  c.kafka.topic_partitions = 1;
  c.delivery_timeout = absl::Seconds(60);
  metrics::Registry registry;
  absl::StatusOr<std::unique_ptr<ProducerApp>> app = ProducerApp::Create(c, registry);
  ASSERT_TRUE(app.ok()) << app.status();
  ASSERT_TRUE((*app)->runner().Start().ok());
  auto stub = cdnwarm::v1::Producer::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*app)->runner().grpc_port()),
                          grpc::InsecureChannelCredentials()));

  cdnwarm::v1::WarmReply before;
  ASSERT_TRUE(Warm(*stub, absl::Seconds(20), &before).ok());

  ASSERT_EQ(Kafka("stop"), 0);
  const absl::Time start = absl::Now();
  cdnwarm::v1::WarmReply during;
  grpc::Status s = Warm(*stub, absl::Seconds(3), &during);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(s.error_code(), grpc::UNAVAILABLE) << s.error_message();
  EXPECT_LT(took, absl::Seconds(3)) << "the answer must come within the caller's deadline";
  EXPECT_EQ(during.offset(), 0) << "no position for a record the broker did not acknowledge";

  ASSERT_EQ(Kafka("resume"), 0);
  cdnwarm::v1::WarmReply after;
  s = Warm(*stub, absl::Seconds(60), &after);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(after.offset(), before.offset());

  // What the broker holds: the records of the OK replies, at the offsets they named.
  absl::StatusOr<std::vector<testing::Record>> records = [&] {
    setenv("CDNWARM_KAFKA_BOOTSTRAP", absl::StrCat("127.0.0.1:", kBrokerPort).c_str(), 1);
    return testing::ReadTopic("outage.requests");
  }();
  ASSERT_TRUE(records.ok()) << records.status();
  bool found_before = false, found_after = false;
  for (const testing::Record& r : *records) {
    cdnwarm::v1::WarmTask t;
    ASSERT_TRUE(t.ParseFromString(r.value));
    found_before = found_before || (t.task_id() == before.task_id() && r.offset == before.offset());
    found_after = found_after || (t.task_id() == after.task_id() && r.offset == after.offset());
  }
  EXPECT_TRUE(found_before);
  EXPECT_TRUE(found_after);
  (*app)->runner().Shutdown();
  (*app)->runner().Wait();
}

}  // namespace
}  // namespace cdnwarm::producer
