#include "common/kafka/kafka_handles.h"

#include "absl/strings/str_cat.h"

namespace cdnwarm::common {

absl::StatusOr<KafkaPtr> NewKafkaClient(rd_kafka_type_t type, KafkaConfPtr conf) {
  char err[512] = {};
  KafkaPtr rk(rd_kafka_new(type, conf.get(), err, sizeof(err)));
  if (!rk) {
    return absl::InvalidArgumentError(
        absl::StrCat(type == RD_KAFKA_PRODUCER ? "Kafka producer: " : "Kafka consumer: ", err));
  }
  conf.release();  // owned by the client now
  return rk;
}

KafkaErrorPtr ProduceCopy(rd_kafka_t* rk, const std::string& topic, std::string_view key,
                          std::string_view value, void* opaque,
                          const std::vector<std::pair<std::string, std::string>>& headers,
                          int32_t partition) {
  std::vector<rd_kafka_vu_t> vus(6 + headers.size());
  vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[0].u.cstr = topic.c_str();
  vus[1].vtype = RD_KAFKA_VTYPE_KEY;
  vus[1].u.mem = {const_cast<char*>(key.data()), key.size()};
  vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[2].u.mem = {const_cast<char*>(value.data()), value.size()};
  vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[3].u.i = RD_KAFKA_MSG_F_COPY;
  vus[4].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vus[4].u.ptr = opaque;
  vus[5].vtype = RD_KAFKA_VTYPE_PARTITION;
  vus[5].u.i32 = partition;
  for (size_t i = 0; i < headers.size(); ++i) {
    rd_kafka_vu_t& h = vus[6 + i];
    h.vtype = RD_KAFKA_VTYPE_HEADER;
    h.u.header.name = headers[i].first.c_str();
    h.u.header.val = headers[i].second.data();
    h.u.header.size = static_cast<ssize_t>(headers[i].second.size());
  }
  return KafkaErrorPtr(rd_kafka_produceva(rk, vus.data(), vus.size()));
}

}  // namespace cdnwarm::common
