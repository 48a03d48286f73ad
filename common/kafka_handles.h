#pragma once

// RAII owners for librdkafka C handles. Every handle the project creates lives in one.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "librdkafka/rdkafka.h"

namespace cdnwarm::common {

namespace internal {
template <auto Destroy>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    if (p != nullptr) Destroy(p);
  }
};
}  // namespace internal

using KafkaPtr = std::unique_ptr<rd_kafka_t, internal::Deleter<rd_kafka_destroy>>;
using KafkaQueuePtr = std::unique_ptr<rd_kafka_queue_t, internal::Deleter<rd_kafka_queue_destroy>>;
using KafkaEventPtr = std::unique_ptr<rd_kafka_event_t, internal::Deleter<rd_kafka_event_destroy>>;
using KafkaNewTopicPtr =
    std::unique_ptr<rd_kafka_NewTopic_t, internal::Deleter<rd_kafka_NewTopic_destroy>>;
using KafkaAdminOptionsPtr =
    std::unique_ptr<rd_kafka_AdminOptions_t, internal::Deleter<rd_kafka_AdminOptions_destroy>>;
using KafkaTopicPartitionListPtr =
    std::unique_ptr<rd_kafka_topic_partition_list_t,
                    internal::Deleter<rd_kafka_topic_partition_list_destroy>>;
using KafkaMessagePtr =
    std::unique_ptr<rd_kafka_message_t, internal::Deleter<rd_kafka_message_destroy>>;
using KafkaTopicPtr = std::unique_ptr<rd_kafka_topic_t, internal::Deleter<rd_kafka_topic_destroy>>;
using KafkaMetadataPtr =
    std::unique_ptr<const rd_kafka_metadata_t, internal::Deleter<rd_kafka_metadata_destroy>>;
using KafkaErrorPtr = std::unique_ptr<rd_kafka_error_t, internal::Deleter<rd_kafka_error_destroy>>;

// Queues one record (key and value copied) with the produceva API: librdkafka's producev
// macros do not compile under -Wold-style-cast. `opaque` reaches the delivery report as
// the message's _private; `partition` is the partitioner's choice unless given. Returns
// librdkafka's refusal (e.g. __QUEUE_FULL), or null.
KafkaErrorPtr ProduceCopy(rd_kafka_t* rk, const std::string& topic, std::string_view key,
                          std::string_view value, void* opaque = nullptr,
                          const std::vector<std::pair<std::string, std::string>>& headers = {},
                          int32_t partition = RD_KAFKA_PARTITION_UA);

}  // namespace cdnwarm::common
