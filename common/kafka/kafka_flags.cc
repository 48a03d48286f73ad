#include "common/kafka/kafka_flags.h"

#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/core/naming.h"

ABSL_FLAG(std::string, kafka_bootstrap, "",
          "Kafka bootstrap servers host:port[,host:port...]; overrides bootstrap.servers");
ABSL_FLAG(std::string, kafka_properties, "",
          "librdkafka properties file (key=value lines): TLS, SASL and tuning settings go "
          "here, as for any Kafka client. Keep secrets in this file, not on the command line");
ABSL_FLAG(std::vector<std::string>, kafka_property, {},
          "Extra librdkafka properties key=value[,key=value...]; override the file");
ABSL_FLAG(std::string, requests_topic, std::string(cdnwarm::common::kRequestsTopic),
          "Topic of warm tasks (the instance suffix is appended)");
ABSL_FLAG(std::string, results_topic, std::string(cdnwarm::common::kResultsTopic),
          "Topic of warm results (the instance suffix is appended)");
ABSL_FLAG(bool, create_topics, true,
          "Create the three topics at start-up when they do not exist (producer, streamer-bridge)");
ABSL_FLAG(int, topic_partitions, 6, "Partitions of topics created at start-up");
ABSL_FLAG(int, topic_replication_factor, 0,
          "Copies of each topic created at start-up (and the least an existing one should have: "
          "fewer is a warning at start-up). 0: 3, or every broker of a smaller cluster");
ABSL_FLAG(int, topic_min_insync_replicas, 0,
          "min.insync.replicas of topics created at start-up: the copies that must hold a "
          "write before acks=all answers OK (fewer on an existing topic is a warning). 0: 2, "
          "or 1 with one copy");
ABSL_FLAG(std::vector<std::string>, regions, {},
          "The deployment's regions (comma separated), the same list for producers and "
          "bridges. Producer: every job reports on each, a target region not among them is "
          "refused. Bridge: each region's consumer group is anchored at start-up, a Subscribe "
          "for another region is refused. Empty: any well-formed region name is accepted");
ABSL_FLAG(std::string, dead_letter_topic, std::string(cdnwarm::common::kDeadLetterTopic),
          "Topic of tasks that exhausted their attempts (the instance suffix is appended)");

namespace cdnwarm::common {

absl::Status CheckTopic(absl::string_view flag, absl::string_view topic) {
  // Kafka's rule: 1..249 characters of [a-zA-Z0-9._-].
  bool ok = !topic.empty() && topic.size() <= 249 && topic != "." && topic != "..";
  for (char c : topic) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, "=\"", topic, "\" is not a valid Kafka topic name (1..249 of [a-zA-Z0-9._-])"));
}

absl::Status KafkaServiceConfigFromFlags(const ServiceInfo& info, CommonConfig* common,
                                         KafkaConfig* kafka) {
  absl::StatusOr<CommonConfig> c = CommonConfigFromFlags(info);
  if (!c.ok()) return c.status();
  absl::StatusOr<KafkaConfig> k = KafkaConfigFromFlags(info, *c);
  if (!k.ok()) return k.status();
  *common = *std::move(c);
  *kafka = *std::move(k);
  return absl::OkStatus();
}

absl::StatusOr<KafkaConfig> KafkaConfigFromFlags(const ServiceInfo& info,
                                                 const CommonConfig& common) {
  KafkaConfig c;
  if (const std::string file = absl::GetFlag(FLAGS_kafka_properties); !file.empty()) {
    absl::StatusOr<KafkaProperties> loaded = KafkaProperties::LoadFile(file);
    if (!loaded.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--kafka_properties: ", loaded.status().message()));
    }
    c.properties = std::move(*loaded);
  }
  if (const std::string bootstrap = absl::GetFlag(FLAGS_kafka_bootstrap); !bootstrap.empty()) {
    c.properties.Set("bootstrap.servers", bootstrap);
  }
  for (const std::string& kv : absl::GetFlag(FLAGS_kafka_property)) {
    if (absl::Status s = c.properties.SetFromArg(kv); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--kafka_property: ", s.message()));
    }
  }
  if (c.properties.Find("client.id") == nullptr) {
    c.properties.Set("client.id", absl::StrCat("cdnwarm-", info.name, "-", common.replica_id));
  }
  // Catch unknown properties and bad values now, with the property's name, not at first use.
  if (absl::StatusOr<KafkaConfPtr> conf = c.properties.ToConf(); !conf.ok()) {
    return conf.status();
  }

  c.requests_topic = WithInstance(absl::GetFlag(FLAGS_requests_topic), common.instance);
  c.results_topic = WithInstance(absl::GetFlag(FLAGS_results_topic), common.instance);
  c.dead_letter_topic = WithInstance(absl::GetFlag(FLAGS_dead_letter_topic), common.instance);
  for (const auto& [flag, topic] :
       {std::pair{"requests_topic", c.requests_topic}, std::pair{"results_topic", c.results_topic},
        std::pair{"dead_letter_topic", c.dead_letter_topic}}) {
    if (absl::Status s = CheckTopic(flag, topic); !s.ok()) return s;
  }
  c.create_topics = absl::GetFlag(FLAGS_create_topics);
  c.regions = absl::GetFlag(FLAGS_regions);
  for (const std::string& r : c.regions) {
    if (absl::Status s = ValidateRegion(r); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--regions: ", s.message()));
    }
  }
  c.topic_partitions = absl::GetFlag(FLAGS_topic_partitions);
  if (c.topic_partitions < 1 || c.topic_partitions > 10000) {
    return absl::InvalidArgumentError("--topic_partitions must be between 1 and 10000");
  }
  c.topic_replication_factor = absl::GetFlag(FLAGS_topic_replication_factor);
  c.topic_min_insync_replicas = absl::GetFlag(FLAGS_topic_min_insync_replicas);
  for (const auto& [flag, value] :
       {std::pair{"topic_replication_factor", c.topic_replication_factor},
        std::pair{"topic_min_insync_replicas", c.topic_min_insync_replicas}}) {
    if (value < 0 || value > 100) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " must be between 0 (the default) and 100"));
    }
  }
  if (c.topic_replication_factor > 0 && c.topic_min_insync_replicas > c.topic_replication_factor) {
    return absl::InvalidArgumentError(
        absl::StrCat("--topic_min_insync_replicas=", c.topic_min_insync_replicas,
                     " is more than --topic_replication_factor=", c.topic_replication_factor,
                     ": no write could ever be acknowledged"));
  }
  return c;
}

}  // namespace cdnwarm::common
