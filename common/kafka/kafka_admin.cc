#include "common/kafka/kafka_admin.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "common/kafka/kafka_flags.h"
#include "common/kafka/kafka_handles.h"

namespace cdnwarm::common {

absl::Status EnsureTopics(const KafkaProperties& props, const std::vector<TopicSpec>& topics,
                          absl::Duration timeout) {
  if (topics.empty()) return absl::OkStatus();
  absl::StatusOr<KafkaConfPtr> conf = props.ToConf();
  if (!conf.ok()) return conf.status();

  absl::StatusOr<KafkaPtr> client = NewKafkaClient(RD_KAFKA_PRODUCER, *std::move(conf));
  if (!client.ok()) return client.status();
  const KafkaPtr rk = *std::move(client);

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
  KafkaAdminOptionsPtr options(rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, err, sizeof(err)) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InvalidArgumentError(absl::StrCat("kafka admin timeout: ", err));
  }
  KafkaQueuePtr queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_CreateTopics(rk.get(), raw.data(), raw.size(), options.get(), queue.get());

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
    return absl::UnavailableError(absl::StrCat("create topic \"",
                                               rd_kafka_topic_result_name(results[i]),
                                               "\": ", msg != nullptr ? msg : rd_kafka_err2str(e)));
  }
  return absl::OkStatus();
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

absl::StatusOr<int> TopicPartitionCount(rd_kafka_t* rk, const std::string& topic,
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
  return metadata->topics[0].partition_cnt;
}

absl::Status EnsureServiceTopics(const KafkaConfig& config) {
  if (!config.create_topics) return absl::OkStatus();
  std::vector<TopicSpec> topics;
  for (const std::string& name :
       {config.requests_topic, config.results_topic, config.dead_letter_topic}) {
    topics.push_back({.name = name, .partitions = config.topic_partitions});
  }
  absl::Status s = EnsureTopics(config.properties, topics, absl::Seconds(30));
  if (absl::IsUnavailable(s)) {
    // The usual first-run cause: nothing (or not Kafka) at the bootstrap address.
    const std::string* bootstrap = config.properties.Find("bootstrap.servers");
    return absl::UnavailableError(
        absl::StrCat(s.message(), "; is a Kafka broker reachable at ",
                     bootstrap != nullptr ? *bootstrap : "(no bootstrap.servers set)",
                     "? Check --kafka_bootstrap, and --kafka_properties for TLS or SASL"));
  }
  return s;
}

}  // namespace cdnwarm::common
