#include "common/kafka/kafka_admin.h"

#include <algorithm>
#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/core/log.h"
#include "common/kafka/kafka_flags.h"
#include "common/kafka/kafka_handles.h"

namespace cdnwarm::common {

namespace {

// Creates the topics of `topics` that do not exist yet, through `rk`.
absl::Status CreateTopicsOn(rd_kafka_t* rk, const std::vector<TopicSpec>& topics,
                            absl::Duration timeout) {
  if (topics.empty()) return absl::OkStatus();
  char err[512] = {};
  std::vector<KafkaNewTopicPtr> owned;
  std::vector<rd_kafka_NewTopic_t*> raw;
  for (const TopicSpec& t : topics) {
    KafkaNewTopicPtr nt(rd_kafka_NewTopic_new(t.name.c_str(), t.partitions, t.replication_factor,
                                              err, sizeof(err)));
    if (!nt) return absl::InvalidArgumentError(absl::StrCat("topic \"", t.name, "\": ", err));
    for (const auto& [k, v] : t.config) {
      if (rd_kafka_resp_err_t e = rd_kafka_NewTopic_set_config(nt.get(), k.c_str(), v.c_str());
          e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return absl::InvalidArgumentError(
            absl::StrCat("topic \"", t.name, "\" config ", k, ": ", rd_kafka_err2str(e)));
      }
    }
    raw.push_back(nt.get());
    owned.push_back(std::move(nt));
  }

  const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
  KafkaAdminOptionsPtr options(rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, err, sizeof(err)) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InvalidArgumentError(absl::StrCat("kafka admin timeout: ", err));
  }
  KafkaQueuePtr queue(rd_kafka_queue_new(rk));
  rd_kafka_CreateTopics(rk, raw.data(), raw.size(), options.get(), queue.get());

  // The result event arrives after the request timeout at the latest; the extra second
  // covers the client's own bookkeeping.
  KafkaEventPtr event(rd_kafka_queue_poll(queue.get(), timeout_ms + 1000));
  if (!event) {
    return absl::UnavailableError(
        absl::StrCat("kafka did not answer CreateTopics within ", absl::FormatDuration(timeout)));
  }
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("kafka CreateTopics: ", rd_kafka_event_error_string(event.get())));
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
  for (size_t i = 0; i < count; ++i) {
    const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) continue;
    const char* msg = rd_kafka_topic_result_error_string(results[i]);
    // The cluster answered, and refused: asking again will not help.
    return absl::FailedPreconditionError(
        absl::StrCat("create topic \"", rd_kafka_topic_result_name(results[i]),
                     "\": ", msg != nullptr ? msg : rd_kafka_err2str(e)));
  }
  return absl::OkStatus();
}

// What librdkafka reports about a client that no retry cures: the cluster refused its login,
// the TLS handshake failed here, or the broker ended it with a TLS alert (a certificate it
// does not accept, or none: librdkafka sees that as a failed receive). Written by
// OnClientError, which librdkafka runs only inside rd_kafka_poll, on the thread that polls:
// no lock is needed.
struct Refusal {
  std::string reason;
};

void OnClientError(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
  if (reason == nullptr) return;
  const bool refused =
      err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL ||
      (err == RD_KAFKA_RESP_ERR__TRANSPORT && absl::StrContains(reason, " alert "));
  auto* refusal = static_cast<Refusal*>(opaque);
  if (refused && refusal->reason.empty()) refusal->reason = reason;
}

absl::StatusOr<KafkaPtr> AdminClient(const KafkaProperties& props) {
  absl::StatusOr<KafkaConfPtr> conf = props.ToConf();
  if (!conf.ok()) return conf.status();
  return NewKafkaClient(RD_KAFKA_PRODUCER, *std::move(conf));
}

}  // namespace

absl::Status EnsureTopics(const KafkaProperties& props, const std::vector<TopicSpec>& topics,
                          absl::Duration timeout) {
  if (topics.empty()) return absl::OkStatus();
  absl::StatusOr<KafkaPtr> rk = AdminClient(props);
  if (!rk.ok()) return rk.status();
  return CreateTopicsOn(rk->get(), topics, timeout);
}

namespace {

// Runs one Admin API request on `rk` and waits for its result event: `launch` starts it
// with the options and the queue. UNAVAILABLE, naming `what`, when the cluster does not
// answer within `timeout` or the request as a whole fails.
absl::StatusOr<KafkaEventPtr> RunAdmin(
    rd_kafka_t* rk, rd_kafka_admin_op_t op, absl::Duration timeout, const std::string& what,
    const std::function<void(const rd_kafka_AdminOptions_t*, rd_kafka_queue_t*)>& launch) {
  const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
  char err[512];
  KafkaAdminOptionsPtr options(rd_kafka_AdminOptions_new(rk, op));
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, err, sizeof(err)) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InvalidArgumentError(absl::StrCat("kafka admin timeout: ", err));
  }
  KafkaQueuePtr queue(rd_kafka_queue_new(rk));
  launch(options.get(), queue.get());
  // The result arrives after the request timeout at the latest; the extra second covers
  // the client's own bookkeeping.
  KafkaEventPtr event(rd_kafka_queue_poll(queue.get(), timeout_ms + 1000));
  if (!event) {
    return absl::UnavailableError(
        absl::StrCat("kafka did not answer (", what, ") within ", absl::FormatDuration(timeout)));
  }
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat(what, ": ", rd_kafka_event_error_string(event.get())));
  }
  return event;
}

}  // namespace

absl::StatusOr<size_t> GroupMemberCount(rd_kafka_t* rk, const std::string& group,
                                        absl::Duration timeout) {
  const std::string what = absl::StrCat("describe group ", group);
  absl::StatusOr<KafkaEventPtr> event =
      RunAdmin(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, timeout, what,
               [&](const rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
                 const char* groups[] = {group.c_str()};
                 rd_kafka_DescribeConsumerGroups(rk, groups, 1, options, queue);
               });
  if (!event.ok()) return event.status();
  size_t count = 0;
  const rd_kafka_ConsumerGroupDescription_t** described =
      rd_kafka_DescribeConsumerGroups_result_groups(
          rd_kafka_event_DescribeConsumerGroups_result(event->get()), &count);
  if (count != 1) return absl::UnavailableError(absl::StrCat(what, ": no answer"));
  if (const rd_kafka_error_t* e = rd_kafka_ConsumerGroupDescription_error(described[0])) {
    if (rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) return 0;
    return absl::UnavailableError(absl::StrCat(what, ": ", rd_kafka_error_string(e)));
  }
  return rd_kafka_ConsumerGroupDescription_member_count(described[0]);
}

namespace {

// The metadata of `topic` (its one entry is topics[0]): UNAVAILABLE when the cluster does
// not answer, NOT_FOUND for a topic it does not have.
absl::StatusOr<KafkaMetadataPtr> TopicMetadata(rd_kafka_t* rk, const std::string& topic,
                                               absl::Duration timeout) {
  KafkaTopicPtr handle(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  const rd_kafka_metadata_t* raw = nullptr;
  if (rd_kafka_resp_err_t e = rd_kafka_metadata(
          rk, 0, handle.get(), &raw, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("metadata of topic ", topic, ": ", rd_kafka_err2str(e)));
  }
  KafkaMetadataPtr metadata(raw);
  if (metadata->topic_cnt != 1 || metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::NotFoundError(absl::StrCat(
        "topic ", topic, ": ",
        metadata->topic_cnt == 1 ? rd_kafka_err2str(metadata->topics[0].err) : "not in metadata"));
  }
  return metadata;
}

// Waits until `topic` has a leader for each partition in the metadata `rk` gets: a topic
// just created is known to the controller first, and a consumer that looks it up on
// another broker a moment later would hear "unknown partition".
absl::Status AwaitLeaders(rd_kafka_t* rk, const std::string& topic, absl::Time deadline) {
  while (true) {
    absl::StatusOr<KafkaMetadataPtr> metadata = TopicMetadata(rk, topic, absl::Seconds(5));
    absl::Status why = metadata.status();
    if (metadata.ok()) {
      const rd_kafka_metadata_topic_t& t = (*metadata)->topics[0];
      bool led = t.partition_cnt > 0;
      for (int i = 0; led && i < t.partition_cnt; ++i) led = t.partitions[i].leader >= 0;
      if (led) return absl::OkStatus();
      why = absl::UnavailableError("a partition has no leader");
    }
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(
          absl::StrCat("topic ", topic, " is not ready to use: ", why.message()));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

}  // namespace

absl::StatusOr<int> TopicPartitionCount(rd_kafka_t* rk, const std::string& topic,
                                        absl::Duration timeout) {
  absl::StatusOr<KafkaMetadataPtr> metadata = TopicMetadata(rk, topic, timeout);
  if (!metadata.ok()) return metadata.status();
  return (*metadata)->topics[0].partition_cnt;
}

absl::StatusOr<Durability> ResolveDurability(Durability configured, int brokers) {
  Durability d = configured;
  if (d.replication_factor == 0) d.replication_factor = std::clamp(brokers, 1, 3);
  if (d.min_insync_replicas == 0) d.min_insync_replicas = std::min(2, d.replication_factor);
  if (d.min_insync_replicas > d.replication_factor) {
    return absl::InvalidArgumentError(
        absl::StrCat("--topic_min_insync_replicas=", d.min_insync_replicas, " is more than the ",
                     d.replication_factor,
                     " copies topics get (--topic_replication_factor): no write "
                     "could ever be acknowledged"));
  }
  return d;
}

absl::StatusOr<std::vector<WeakSetting>> WeakerSettings(rd_kafka_t* rk,
                                                        const std::vector<std::string>& topics,
                                                        Durability want, absl::Duration timeout) {
  std::vector<WeakSetting> weaker;
  for (const std::string& topic : topics) {
    absl::StatusOr<KafkaMetadataPtr> metadata = TopicMetadata(rk, topic, timeout);
    if (!metadata.ok()) return metadata.status();
    const rd_kafka_metadata_topic_t& t = (*metadata)->topics[0];
    int copies = want.replication_factor;
    for (int i = 0; i < t.partition_cnt; ++i) {
      copies = std::min(copies, t.partitions[i].replica_cnt);
    }
    if (copies < want.replication_factor) {
      weaker.push_back(
          {topic, absl::StrCat("replication.factor ", copies, " < ", want.replication_factor)});
    }
  }
  if (topics.empty()) return weaker;
  // One request for every topic's settings: one timeout at most.
  std::vector<KafkaConfigResourcePtr> owned;
  std::vector<rd_kafka_ConfigResource_t*> resources;
  for (const std::string& topic : topics) {
    owned.emplace_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
    resources.push_back(owned.back().get());
  }
  const std::string what = absl::StrCat("describe configs of ", topics.size(), " topics");
  absl::StatusOr<KafkaEventPtr> event =
      RunAdmin(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout, what,
               [&](const rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
                 rd_kafka_DescribeConfigs(rk, resources.data(), resources.size(), options, queue);
               });
  if (!event.ok()) return event.status();
  size_t count = 0;
  const rd_kafka_ConfigResource_t** described = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(event->get()), &count);
  for (size_t r = 0; r < count; ++r) {
    const std::string topic = rd_kafka_ConfigResource_name(described[r]);
    if (rd_kafka_ConfigResource_error(described[r]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(absl::StrCat(
          what, ": ", topic, ": ", rd_kafka_ConfigResource_error_string(described[r])));
    }
    size_t entries = 0;
    const rd_kafka_ConfigEntry_t** configs =
        rd_kafka_ConfigResource_configs(described[r], &entries);
    for (size_t i = 0; i < entries; ++i) {
      if (absl::string_view(rd_kafka_ConfigEntry_name(configs[i])) != "min.insync.replicas") {
        continue;
      }
      int value = 0;
      const char* text = rd_kafka_ConfigEntry_value(configs[i]);
      if (text != nullptr && absl::SimpleAtoi(text, &value) && value < want.min_insync_replicas) {
        weaker.push_back(
            {topic, absl::StrCat("min.insync.replicas ", value, " < ", want.min_insync_replicas)});
      }
    }
  }
  return weaker;
}

absl::Status EnsureServiceTopics(const KafkaConfig& config, std::vector<TopicSpec> extra) {
  // What the flags check, again for callers that fill a KafkaConfig themselves: refused
  // before the cluster is asked anything.
  if (config.topic_partitions < 1 || config.topic_partitions > 10000) {
    return absl::InvalidArgumentError("--topic_partitions must be between 1 and 10000");
  }
  const absl::Duration timeout = config.admin_timeout;
  const std::string* bootstrap_property = config.properties.Find("bootstrap.servers");
  const std::string bootstrap =
      bootstrap_property != nullptr ? *bootstrap_property : "(no bootstrap.servers set)";
  // The usual first-run cause of no answer: nothing (or not Kafka) at the bootstrap address.
  const auto unreachable = [&](const absl::Status& s) {
    return absl::UnavailableError(
        absl::StrCat(s.message(), "; is a Kafka broker reachable at ", bootstrap,
                     "? Check --kafka_bootstrap, and --kafka_properties for TLS or SASL",
                     ScramCompatibilityNote(config.properties)));
  };
  Refusal refusal;  // outlives the client, which points at it
  absl::StatusOr<KafkaConfPtr> conf = config.properties.ToConf();
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_error_cb(conf->get(), &OnClientError);
  rd_kafka_conf_set_opaque(conf->get(), &refusal);
  absl::StatusOr<KafkaPtr> client = NewKafkaClient(RD_KAFKA_PRODUCER, *std::move(conf));
  if (!client.ok()) return client.status();
  rd_kafka_t* rk = client->get();

  // Asked in slices of a second at most, so that a refused login or handshake ends the wait
  // at once with what the cluster said, rather than as "not reachable" at the timeout.
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
  for (absl::Duration asked = absl::ZeroDuration(); asked < timeout;) {
    const absl::Duration slice = std::min(absl::Seconds(1), timeout - asked);
    asked += slice;
    e = rd_kafka_metadata(rk, 0, nullptr, &raw, static_cast<int>(absl::ToInt64Milliseconds(slice)));
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    rd_kafka_poll(rk, 0);  // runs OnClientError
    if (!refusal.reason.empty()) {
      return absl::UnauthenticatedError(
          absl::StrCat("Kafka at ", bootstrap, " refused this client: ", refusal.reason,
                       "; check --kafka_properties (security.protocol, sasl.*, ssl.*)",
                       ScramCompatibilityNote(config.properties)));
    }
  }
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return unreachable(
        absl::UnavailableError(absl::StrCat("kafka metadata: ", rd_kafka_err2str(e))));
  }
  const int brokers = KafkaMetadataPtr(raw)->broker_cnt;
  absl::StatusOr<Durability> want =
      ResolveDurability({.replication_factor = config.topic_replication_factor,
                         .min_insync_replicas = config.topic_min_insync_replicas},
                        brokers);
  if (!want.ok()) return want.status();
  if (config.topic_replication_factor == 0 && want->replication_factor < 3) {
    log::Warn(
        "topics get fewer than 3 copies: the cluster has fewer brokers (acks=all then "
        "holds a write on min.insync.replicas copies; --topic_replication_factor sets it)",
        {{"brokers", brokers},
         {"replication_factor", want->replication_factor},
         {"min_insync_replicas", want->min_insync_replicas}});
  }

  std::vector<TopicSpec> topics = std::move(extra);
  for (const std::string& name :
       {config.requests_topic, config.results_topic, config.dead_letter_topic}) {
    topics.push_back({.name = name, .partitions = config.topic_partitions});
  }
  for (TopicSpec& t : topics) {
    t.replication_factor = want->replication_factor;
    t.config.emplace_back("min.insync.replicas", std::to_string(want->min_insync_replicas));
  }
  if (config.create_topics) {
    absl::Status s = CreateTopicsOn(rk, topics, timeout);
    if (!s.ok() && want->replication_factor > brokers) {
      return absl::FailedPreconditionError(
          absl::StrCat(s.message(), "; the cluster lists ", brokers,
                       " broker(s): --topic_replication_factor=", brokers, " fits it"));
    }
    if (absl::IsUnavailable(s)) return unreachable(s);
    if (!s.ok()) return s;
    const absl::Time deadline = absl::Now() + timeout;
    for (const TopicSpec& t : topics) {
      if (absl::Status led = AwaitLeaders(rk, t.name, deadline); !led.ok()) return led;
    }
  }
  // Topics made by someone else (the topics Job, an operator) may keep fewer copies. Nothing
  // is weaker than one copy and one in sync, so a one-broker cluster (the demo's mock, which
  // cannot describe configs) is not asked.
  if (want->replication_factor > 1 || want->min_insync_replicas > 1) {
    std::vector<std::string> names;
    for (const TopicSpec& t : topics) names.push_back(t.name);
    absl::StatusOr<std::vector<WeakSetting>> weaker =
        WeakerSettings(rk, names, *want, absl::Seconds(10));
    if (!weaker.ok()) {
      log::Warn("topic durability not checked", {{"error", weaker.status().message()}});
    } else {
      for (const WeakSetting& w : *weaker) {
        log::Warn("topic is less durable than configured: acks=all promises less",
                  {{"topic", w.topic}, {"setting", w.setting}});
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace cdnwarm::common
