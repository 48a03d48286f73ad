#pragma once

// librdkafka configuration as an ordered list of properties: loaded from a Java-style
// properties file (so TLS and SASL settings pass straight through, as for any Kafka
// client), overlaid with command-line settings, then applied to a client config.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/core/c_handle.h"
#include "common/kafka/kafka_handles.h"
#include "librdkafka/rdkafka.h"

namespace cdnwarm::common {

// Owns a rd_kafka_conf_t until it is handed to rd_kafka_new().

class KafkaProperties {
 public:
  // Parses properties text: `key=value` or `key: value` lines, `#` and `!` comments,
  // blank lines, and trailing-backslash continuations. `origin` names the source in errors.
  static absl::StatusOr<KafkaProperties> Parse(absl::string_view text, absl::string_view origin);
  // Reads and parses a file.
  static absl::StatusOr<KafkaProperties> LoadFile(const std::string& path);

  // Sets (or replaces) a property. Later sets win.
  void Set(absl::string_view key, absl::string_view value);
  // Parses "key=value" as given on a command line.
  absl::Status SetFromArg(absl::string_view key_equals_value);
  // The value of `key`, or nullptr.
  const std::string* Find(absl::string_view key) const;

  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }

  // A new librdkafka config with every property applied; the error names the property
  // librdkafka refused and why.
  absl::StatusOr<KafkaConfPtr> ToConf() const;

  // "k=v, k=v" with secret values (passwords, keys, JAAS, tokens) replaced, for logs.
  std::string Redacted() const;

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

// True for property names whose values must never be logged.
bool IsSecretProperty(absl::string_view key);

// librdkafka before 2.6.1 puts its own nonce into the SCRAM client-final message twice
// (confluentinc/librdkafka#4895); Kafka 4.0 and later check that nonce strictly and refuse the
// login as "invalid credentials", although the password is right. For properties that ask
// for SCRAM on such a librdkafka (`librdkafka_version` as rd_kafka_version() gives it): a
// note that says so and what to use instead, to add to a failure to reach the cluster;
// otherwise "".
std::string ScramCompatibilityNote(const KafkaProperties& props,
                                   int librdkafka_version = rd_kafka_version());

}  // namespace cdnwarm::common
