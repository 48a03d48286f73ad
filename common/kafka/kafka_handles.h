#pragma once

// RAII owners for librdkafka C handles. Every handle the project creates lives in one.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/core/c_handle.h"
#include "librdkafka/rdkafka.h"

namespace cdnwarm::common {

using KafkaPtr = CHandle<rd_kafka_t, rd_kafka_destroy>;
using KafkaConfPtr = CHandle<rd_kafka_conf_t, rd_kafka_conf_destroy>;
using KafkaQueuePtr = CHandle<rd_kafka_queue_t, rd_kafka_queue_destroy>;
using KafkaEventPtr = CHandle<rd_kafka_event_t, rd_kafka_event_destroy>;
using KafkaNewTopicPtr = CHandle<rd_kafka_NewTopic_t, rd_kafka_NewTopic_destroy>;
using KafkaAdminOptionsPtr = CHandle<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy>;
using KafkaTopicPartitionListPtr =
    CHandle<rd_kafka_topic_partition_list_t, rd_kafka_topic_partition_list_destroy>;
using KafkaMessagePtr = CHandle<rd_kafka_message_t, rd_kafka_message_destroy>;
using KafkaTopicPtr = CHandle<rd_kafka_topic_t, rd_kafka_topic_destroy>;
using KafkaMetadataPtr = CHandle<const rd_kafka_metadata_t, rd_kafka_metadata_destroy>;
using KafkaErrorPtr = CHandle<rd_kafka_error_t, rd_kafka_error_destroy>;
using KafkaConfigResourcePtr = CHandle<rd_kafka_ConfigResource_t, rd_kafka_ConfigResource_destroy>;

// A client of `type` (RD_KAFKA_PRODUCER or RD_KAFKA_CONSUMER) made from `conf`, which it
// takes: librdkafka owns it once the client exists, and it is freed here otherwise.
// INVALID_ARGUMENT with librdkafka's reason when the configuration is refused.
absl::StatusOr<KafkaPtr> NewKafkaClient(rd_kafka_type_t type, KafkaConfPtr conf);

// Commits `offsets` for the consumer `rk` and waits up to `timeout` for the group
// coordinator's answer. librdkafka's own synchronous commit waits as long as no
// coordinator is known: a whole session timeout (45 s by default) when Kafka is down.
// Returns the commit's error, or __TIMED_OUT when no answer came in time (the commit may
// still land later).
rd_kafka_resp_err_t CommitWithin(rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* offsets,
                                 absl::Duration timeout);

// Closes the consumer `rk`, then destroys it (`rk` is null after): its assignment is
// revoked (its rebalance callback runs on this thread, and may still use `rk`), the final
// commits are made and the group is left. Gives up at `timeout`, when Kafka cannot be
// reached, and destroys the handle without the close (DestroyWithin, what is left of
// `timeout`); returns false then, and the group notices the member gone after its session
// timeout.
bool CloseConsumer(KafkaPtr& rk, absl::Duration timeout);

// Destroys `rk` on a thread of its own, without a consumer close, and waits up to
// `timeout` for that. librdkafka's destroy has no timeout: a consumer's waits for what its
// group still has in flight, and a commit waiting for a coordinator waits up to the session
// timeout (45 s by default), longer than a pod's termination grace. Returns false when the
// destroy is still running at `timeout`; it goes on in the background. No rebalance
// callback runs (there is no close); a consumer that must leave its group cleanly is
// closed first (CloseConsumer).
bool DestroyWithin(KafkaPtr rk, absl::Duration timeout);

// How many destroys DestroyWithin left running are still running at `deadline`, waiting
// for them until then. A process ends with this: exit() while a destroy runs would tear
// down the library under it, so a process with destroys left leaves with std::_Exit
// (ExitWhenKafkaIsDestroyed). exit() itself waits for them, for 90 s at most.
int AwaitKafkaDestroys(absl::Time deadline);

// The end of a service's main: waits up to `grace` for destroys still running, then
// returns; when some still run then, logs that and ends the process at once with `code`.
void ExitWhenKafkaIsDestroyed(absl::Duration grace, int code);

// Queues one record (key and value copied) with the produceva API: librdkafka's producev
// macros do not compile under -Wold-style-cast. `opaque` reaches the delivery report as
// the message's _private; `partition` is the partitioner's choice unless given. Returns
// librdkafka's refusal (e.g. __QUEUE_FULL), or null.
KafkaErrorPtr ProduceCopy(rd_kafka_t* rk, const std::string& topic, std::string_view key,
                          std::string_view value, void* opaque = nullptr,
                          const std::vector<std::pair<std::string, std::string>>& headers = {},
                          int32_t partition = RD_KAFKA_PARTITION_UA);

}  // namespace cdnwarm::common
