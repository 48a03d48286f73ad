// RegionRegistry: a region made on the first Subscribe that needs it and shared by the rest,
// refused subscriptions that register nothing, StreamDone, the janitor's idle drop, and
// the two shutdown steps. Each region's consumer is a real librdkafka client whose cluster
// is not there: the registry's own bookkeeping needs no broker.

#include "streamer-bridge/region_registry.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/core/sync.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "streamer-bridge/subscribe_stream.h"

namespace cdnwarm::bridge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A subscriber added to a region directly (not through the registry): what it was sent.
// The region's consumer thread may dispatch to it too, so it has its own lock.
struct FakeSink : DeliverySink {
  bool Send(cdnwarm::v1::Delivery d) override {
    common::MutexLock lock(&mu);
    got.push_back(std::move(d));
    return true;
  }
  std::vector<cdnwarm::v1::Delivery> Got() {
    common::MutexLock lock(&mu);
    return got;
  }
  common::Mutex mu;
  std::vector<cdnwarm::v1::Delivery> got ABSL_GUARDED_BY(mu);
};

// Nothing is finished in these tests; results would only be counted.
struct NoResults : ResultSink {
  void Result(const cdnwarm::v1::WarmResult&, std::function<void()>) override {}
  void DeadLetter(const cdnwarm::v1::WarmTask&, const cdnwarm::v1::WarmResult&,
                  const DeadLetterSource&, std::function<void()>) override {}
};

cdnwarm::v1::WarmTask Task(int i) {
  cdnwarm::v1::WarmTask t;
  t.set_task_id(absl::StrCat("j/", i));
  t.set_job_id("j");
  t.set_url(absl::StrCat("https://example.com/", i));
  return t;
}

class RegionRegistryTest : public ::testing::Test {
 protected:
  static RegistryOptions Options() {
    RegistryOptions o;
    o.replica = "r1";
    o.group_prefix = "test.registry";
    o.consumer.kafka.Set("bootstrap.servers", "127.0.0.1:1");  // no cluster answers
    o.consumer.topic = "nowhere";
    o.idle_grace = absl::Seconds(10);
    return o;
  }

  void TearDown() override {
    // No cluster answers: the consumers' last commit of what their regions read would wait
    // for one (45 s). Nothing read, nothing to commit.
    registry_->ForEach([](const std::string&, Region& r, RegionConsumer&) { r.Revoked({0}); });
  }

  // A Subscribe stream as the handler makes it, not started: what a region sends it stays
  // queued on it, never written.
  SubscribeStream* NewStream(const std::string& region, const std::string& id) {
    streams_.emplace_back(SubscribeStream::New(false, region, id, [](SubscribeStream*) {}));
    return streams_.back().get();
  }

  absl::Status Subscribe(const std::string& region, const std::string& id, SubscribeStream* s,
                         uint32_t credit = 10) {
    return registry_->Subscribe(region, id, credit, absl::Seconds(60), "peer", s);
  }

  std::vector<std::string> Names() {
    std::vector<std::string> names;
    registry_->ForEach(
        [&](const std::string& name, Region&, RegionConsumer&) { names.push_back(name); });
    return names;
  }

  size_t Subscribers(const std::string& region) {
    size_t n = 0;
    EXPECT_TRUE(registry_->WithRegion(region, [&](Region& r) { n = r.subscriber_count(); }))
        << region;
    return n;
  }

  NoResults results_;
  metrics::Registry metrics_;
  // Outlive the registry, as gRPC keeps a stream until its region forgot it.
  std::vector<std::unique_ptr<SubscribeStream>> streams_;
  FakeSink other_;  // a subscriber added to a region directly
  std::unique_ptr<RegionRegistry> registry_ =
      std::make_unique<RegionRegistry>(Options(), results_, metrics_);
};

TEST_F(RegionRegistryTest, TheFirstSubscribeMakesTheRegionAndTheOthersShareIt) {
  EXPECT_TRUE(Names().empty());
  EXPECT_FALSE(registry_->WithRegion("eu", [](Region&) {}));
  EXPECT_FALSE(registry_->Hold("eu").has_value());

  ASSERT_TRUE(Subscribe("eu", "w1", NewStream("eu", "w1")).ok());
  std::optional<RegionRegistry::Held> first = registry_->Hold("eu");
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(Subscribe("eu", "w2", NewStream("eu", "w2")).ok());
  ASSERT_TRUE(Subscribe("us", "w3", NewStream("us", "w3")).ok());

  EXPECT_THAT(Names(), ElementsAre("eu", "us"));
  EXPECT_EQ(Subscribers("eu"), 2u);
  EXPECT_EQ(Subscribers("us"), 1u);
  std::optional<RegionRegistry::Held> again = registry_->Hold("eu");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->region, first->region) << "one Region per name";
  EXPECT_EQ(again->consumer, first->consumer) << "one group membership per region";
  EXPECT_EQ(again->region->name(), "eu");
  EXPECT_NE(registry_->Hold("us")->region, first->region);
}

TEST_F(RegionRegistryTest, ForEachVisitsRegionsInNameOrder) {
  for (const std::string r : {"us", "ap", "eu-west", "eu"}) {
    ASSERT_TRUE(Subscribe(r, "w", NewStream(r, "w")).ok()) << r;
  }
  EXPECT_THAT(Names(), ElementsAre("ap", "eu", "eu-west", "us"));
}

TEST_F(RegionRegistryTest, ARegionsAckIdsCarryThisReplicaAndTheRegionsName) {
  SubscribeStream* s = NewStream("eu", "w1");
  ASSERT_TRUE(Subscribe("eu", "w1", s).ok());
  ASSERT_TRUE(registry_->WithRegion("eu", [](Region& r) {
    r.Assigned(0);
    r.Enqueue(0, 0, Task(0));
  }));
  s->End(grpc::Status::CANCELLED);  // what was queued is dropped: its ack ids come back
  const std::vector<std::string> ids = s->TakeNeverSent();
  ASSERT_EQ(ids.size(), 1u) << "the task went to the registered stream";
  AckIdParts parts;
  EXPECT_TRUE(ParseAckId(ids[0], "r1", &parts)) << ids[0];
  EXPECT_EQ(parts.region, "eu");
  EXPECT_FALSE(ParseAckId(ids[0], "r2", &parts)) << "another replica's id";
}

TEST_F(RegionRegistryTest, AnInvalidRegionNameIsRefusedAndMakesNoRegion) {
  const absl::Status s = Subscribe("EU_1", "w1", NewStream("EU_1", "w1"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("\"EU_1\""));
  EXPECT_TRUE(Names().empty());
}

TEST_F(RegionRegistryTest, AGroupThatCannotBeJoinedIsUnavailableAndMakesNoRegion) {
  RegistryOptions o = Options();
  o.consumer.kafka.Set("no.such.property", "1");
  RegionRegistry registry(o, results_, metrics_);
  SubscribeStream* s = NewStream("eu", "w1");
  const absl::Status status = registry.Subscribe("eu", "w1", 10, absl::Seconds(60), "peer", s);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("cannot join the region's consumer group: "));
  EXPECT_THAT(std::string(status.message()), HasSubstr("no.such.property"));
  EXPECT_FALSE(registry.Hold("eu").has_value());
  // The stream stayed the caller's: ending everything does not touch it.
  registry.StopAll(grpc::Status(grpc::StatusCode::UNAVAILABLE, "draining"));
  EXPECT_TRUE(s->Send(cdnwarm::v1::Delivery()));
}

TEST_F(RegionRegistryTest, AnInvalidInstanceIsRefusedAndMakesNoRegion) {
  RegistryOptions o = Options();
  o.instance = "Blue";
  RegionRegistry registry(o, results_, metrics_);
  const absl::Status s =
      registry.Subscribe("eu", "w1", 10, absl::Seconds(60), "peer", NewStream("eu", "w1"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("instance \"Blue\""));
  EXPECT_FALSE(registry.Hold("eu").has_value());
}

TEST_F(RegionRegistryTest, ASecondStreamForALiveSubscriberIdIsRefusedAndNotRegistered) {
  SubscribeStream* live = NewStream("eu", "w1");
  SubscribeStream* second = NewStream("eu", "w1");
  ASSERT_TRUE(Subscribe("eu", "w1", live).ok());
  EXPECT_EQ(Subscribe("eu", "w1", second).code(), absl::StatusCode::kAlreadyExists);
  // The refused stream's end does not take the live one's place away.
  registry_->StreamDone(second);
  EXPECT_EQ(Subscribers("eu"), 1u);
  // Only registered streams are ended on shutdown.
  registry_->StopAll(grpc::Status(grpc::StatusCode::UNAVAILABLE, "draining"));
  EXPECT_FALSE(live->Send(cdnwarm::v1::Delivery()));
  EXPECT_TRUE(second->Send(cdnwarm::v1::Delivery()));
}

TEST_F(RegionRegistryTest, StreamDoneHandsWhatTheStreamNeverWroteOnWithoutUsingAnAttempt) {
  SubscribeStream* s = NewStream("eu", "a");
  ASSERT_TRUE(Subscribe("eu", "a", s, 5).ok());
  ASSERT_TRUE(registry_->WithRegion("eu", [&](Region& r) {
    r.Assigned(0);
    r.Enqueue(0, 0, Task(0));
    r.Enqueue(0, 1, Task(1));
    ASSERT_TRUE(r.AddSubscriber("b", 5, absl::Seconds(60), "", &other_).ok());
  }));
  EXPECT_TRUE(other_.Got().empty()) << "both tasks were out to the stream";
  s->End(grpc::Status::CANCELLED);  // the client left before anything was written
  registry_->StreamDone(s);
  EXPECT_EQ(Subscribers("eu"), 1u);
  const std::vector<cdnwarm::v1::Delivery> got = other_.Got();
  ASSERT_EQ(got.size(), 2u) << "the stream's deliveries went to the other subscriber";
  for (const auto& d : got) EXPECT_EQ(d.delivery_attempt(), 1u) << d.task().task_id();
}

TEST_F(RegionRegistryTest, ARegionWithoutSubscribersIsDroppedAfterTheIdleGrace) {
  SubscribeStream* eu = NewStream("eu", "w1");
  ASSERT_TRUE(Subscribe("eu", "w1", eu).ok());
  ASSERT_TRUE(Subscribe("us", "w2", NewStream("us", "w2")).ok());
  registry_->StreamDone(eu);
  EXPECT_EQ(Subscribers("eu"), 0u);
  std::optional<RegionRegistry::Held> held = registry_->Hold("eu");
  ASSERT_TRUE(held.has_value());

  const absl::Time t0 = absl::FromUnixSeconds(1'000'000);
  EXPECT_TRUE(registry_->DropIdle(t0).empty()) << "idle from now on";
  EXPECT_TRUE(registry_->DropIdle(t0 + absl::Seconds(10) - absl::Nanoseconds(1)).empty());
  EXPECT_THAT(registry_->DropIdle(t0 + absl::Seconds(10)), ElementsAre("eu"));
  EXPECT_THAT(Names(), ElementsAre("us")) << "the region with a subscriber stays";
  EXPECT_FALSE(registry_->Hold("eu").has_value());
  EXPECT_TRUE(registry_->DropIdle(t0 + absl::Hours(1)).empty());
  // A seek holding the dropped region still has a usable one.
  EXPECT_EQ(held->region->name(), "eu");
  EXPECT_EQ(held->region->subscriber_count(), 0u);

  // A Subscribe after the drop makes a new region.
  ASSERT_TRUE(Subscribe("eu", "w1", NewStream("eu", "w1")).ok());
  ASSERT_TRUE(registry_->Hold("eu").has_value());
  EXPECT_NE(registry_->Hold("eu")->region, held->region);
}

TEST_F(RegionRegistryTest, ASubscriberInBetweenStartsTheIdleGraceAgain) {
  SubscribeStream* first = NewStream("eu", "w1");
  ASSERT_TRUE(Subscribe("eu", "w1", first).ok());
  registry_->StreamDone(first);
  const absl::Time t0 = absl::FromUnixSeconds(1'000'000);
  EXPECT_TRUE(registry_->DropIdle(t0).empty());

  SubscribeStream* second = NewStream("eu", "w1");
  ASSERT_TRUE(Subscribe("eu", "w1", second).ok());
  registry_->StreamDone(second);
  EXPECT_TRUE(registry_->DropIdle(t0 + absl::Seconds(10)).empty()) << "idle only from now";
  EXPECT_TRUE(registry_->DropIdle(t0 + absl::Seconds(19)).empty());
  EXPECT_THAT(registry_->DropIdle(t0 + absl::Seconds(20)), ElementsAre("eu"));
}

TEST_F(RegionRegistryTest, ARegionWithASubscriberIsNeverDropped) {
  ASSERT_TRUE(Subscribe("eu", "w1", NewStream("eu", "w1")).ok());
  const absl::Time t0 = absl::FromUnixSeconds(1'000'000);
  for (absl::Duration later : {absl::ZeroDuration(), absl::Minutes(1), absl::Hours(24)}) {
    EXPECT_TRUE(registry_->DropIdle(t0 + later).empty()) << later;
  }
  EXPECT_THAT(Names(), ElementsAre("eu"));
}

TEST_F(RegionRegistryTest, StopAllEndsEveryStreamKeepsTheDeliveriesOutAndRefusesNewOnes) {
  SubscribeStream* eu = NewStream("eu", "w1");
  SubscribeStream* us = NewStream("us", "w2");
  ASSERT_TRUE(Subscribe("eu", "w1", eu).ok());
  ASSERT_TRUE(Subscribe("us", "w2", us).ok());
  ASSERT_TRUE(registry_->WithRegion("eu", [](Region& r) {
    r.Assigned(0);
    r.Enqueue(0, 0, Task(0));
  }));

  std::vector<std::shared_ptr<Region>> regions =
      registry_->StopAll(grpc::Status(grpc::StatusCode::UNAVAILABLE, "draining"));
  ASSERT_EQ(regions.size(), 2u);
  EXPECT_EQ(regions[0]->name(), "eu");
  EXPECT_EQ(regions[1]->name(), "us");
  EXPECT_FALSE(eu->Send(cdnwarm::v1::Delivery())) << "the stream is ending";
  EXPECT_FALSE(us->Send(cdnwarm::v1::Delivery()));
  EXPECT_EQ(regions[0]->subscriber_count(), 0u);
  EXPECT_EQ(regions[1]->subscriber_count(), 0u);
  EXPECT_EQ(regions[0]->Info().outstanding(), 1u) << "its ack can still find it";

  const absl::Status refused = Subscribe("eu", "w3", NewStream("eu", "w3"));
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("draining"));
  // The regions stay for LeaveAll: the janitor drops none of them any more.
  const absl::Time t0 = absl::FromUnixSeconds(1'000'000);
  EXPECT_TRUE(registry_->DropIdle(t0).empty());
  EXPECT_TRUE(registry_->DropIdle(t0 + absl::Hours(1)).empty());
  EXPECT_THAT(Names(), ElementsAre("eu", "us"));
}

TEST_F(RegionRegistryTest, LeaveAllForgetsEveryRegionAndCanRunTwice) {
  ASSERT_TRUE(Subscribe("eu", "w1", NewStream("eu", "w1")).ok());
  ASSERT_TRUE(Subscribe("us", "w2", NewStream("us", "w2")).ok());
  std::optional<RegionRegistry::Held> held = registry_->Hold("eu");
  ASSERT_TRUE(held.has_value());
  registry_->LeaveAll();
  EXPECT_TRUE(Names().empty());
  EXPECT_FALSE(registry_->Hold("eu").has_value());
  EXPECT_FALSE(registry_->WithRegion("us", [](Region&) {}));
  EXPECT_EQ(Subscribe("eu", "w3", NewStream("eu", "w3")).code(), absl::StatusCode::kUnavailable);
  registry_->LeaveAll();
  EXPECT_TRUE(Names().empty());
  EXPECT_EQ(held->region->name(), "eu") << "a holder keeps its region past the leave";
}

}  // namespace
}  // namespace cdnwarm::bridge
