// cdnwarm-kafka-mock: librdkafka's in-memory mock cluster as a process, so the one-command
// demo runs on a machine with no Kafka broker and no JDK. It is not Kafka: nothing is
// durable, it lives only as long as this process, and it supports what librdkafka's mock
// supports (produce, fetch, groups, commits; topics are created here, not by CreateTopics).
//
//   cdnwarm-kafka-mock TOPIC[,TOPIC...] [PARTITIONS]
//
// Prints "BOOTSTRAP host:port,..." once the cluster listens, then runs until SIGINT/SIGTERM.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/core/server_runner.h"
#include "common/kafka/kafka_handles.h"

int main(int argc, char** argv) {
  int partitions = 6;
  if (argc < 2 || argc > 3 ||
      (argc == 3 &&
       (!absl::SimpleAtoi(argv[2], &partitions) || partitions < 1 || partitions > 1000))) {
    std::cerr << "usage: cdnwarm-kafka-mock TOPIC[,TOPIC...] [PARTITIONS 1..1000]\n";
    return 2;
  }
  cdnwarm::common::BlockTerminationSignals();
  char err[512] = {};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    std::cerr << "cdnwarm-kafka-mock: " << err << "\n";
    return 1;
  }
  cdnwarm::common::KafkaPtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err)));
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    std::cerr << "cdnwarm-kafka-mock: " << err << "\n";
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_handle_mock_cluster(rk.get());
  for (const std::string& topic :
       std::vector<std::string>(absl::StrSplit(argv[1], ',', absl::SkipEmpty()))) {
    if (rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(cluster, topic.c_str(), partitions, 1);
        e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::cerr << "cdnwarm-kafka-mock: topic " << topic << ": " << rd_kafka_err2str(e) << "\n";
      return 1;
    }
  }
  std::cout << "BOOTSTRAP " << rd_kafka_mock_cluster_bootstraps(cluster) << std::endl;
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  int sig = 0;
  sigwait(&stop, &sig);
  return 0;
}
