#include "common/kafka/kafka_config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/core/log.h"

namespace cdnwarm::common {

absl::StatusOr<KafkaProperties> KafkaProperties::Parse(absl::string_view text,
                                                       absl::string_view origin) {
  KafkaProperties props;
  std::string logical;  // a line with its continuations joined
  int line_no = 0;
  int logical_start = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::string_view line = absl::StripTrailingAsciiWhitespace(raw);
    if (logical.empty()) {
      line = absl::StripLeadingAsciiWhitespace(line);
      logical_start = line_no;
      if (line.empty() || line[0] == '#' || line[0] == '!') continue;
    } else {
      line = absl::StripLeadingAsciiWhitespace(line);
    }
    // An odd number of trailing backslashes continues the line.
    size_t slashes = 0;
    while (slashes < line.size() && line[line.size() - 1 - slashes] == '\\') ++slashes;
    if (slashes % 2 == 1) {
      absl::StrAppend(&logical, line.substr(0, line.size() - 1));
      continue;
    }
    absl::StrAppend(&logical, line);
    const size_t sep = logical.find_first_of("=:");
    if (sep == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ":", logical_start, ": expected key=value, got \"",
                       absl::string_view(logical).substr(0, 80), "\""));
    }
    const absl::string_view key =
        absl::StripAsciiWhitespace(absl::string_view(logical).substr(0, sep));
    const absl::string_view value =
        absl::StripAsciiWhitespace(absl::string_view(logical).substr(sep + 1));
    if (key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ":", logical_start, ": empty property name"));
    }
    props.Set(key, value);
    logical.clear();
  }
  if (!logical.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ":", logical_start, ": continuation at end of file"));
  }
  return props;
}

absl::StatusOr<KafkaProperties> KafkaProperties::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("kafka properties file \"", path,
                                            "\" cannot be read: ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

void KafkaProperties::Set(absl::string_view key, absl::string_view value) {
  for (auto& [k, v] : entries_) {
    if (k == key) {
      v = std::string(value);
      return;
    }
  }
  entries_.emplace_back(std::string(key), std::string(value));
}

absl::Status KafkaProperties::SetFromArg(absl::string_view key_equals_value) {
  const size_t eq = key_equals_value.find('=');
  if (eq == absl::string_view::npos || eq == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kafka property \"", key_equals_value.substr(0, 80), "\" is not of the form key=value"));
  }
  Set(absl::StripAsciiWhitespace(key_equals_value.substr(0, eq)),
      absl::StripAsciiWhitespace(key_equals_value.substr(eq + 1)));
  return absl::OkStatus();
}

const std::string* KafkaProperties::Find(absl::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k == key) return &v;
  }
  return nullptr;
}

namespace {

// librdkafka's own log lines (syslog levels) go through the JSON log like everything else.
void OnKafkaLog(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  const log::Level ours = level <= 3   ? log::Level::kError
                          : level == 4 ? log::Level::kWarn
                          : level <= 6 ? log::Level::kInfo
                                       : log::Level::kDebug;
  log::Write(ours, "kafka client",
             {{"client", rk != nullptr ? rd_kafka_name(rk) : ""},
              {"facility", facility},
              {"detail", message}});
}

}  // namespace

absl::StatusOr<KafkaConfPtr> KafkaProperties::ToConf() const {
  KafkaConfPtr conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), &OnKafkaLog);
  char err[512];
  for (const auto& [k, v] : entries_) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      // The value is left out: it may be a secret.
      return absl::InvalidArgumentError(absl::StrCat("kafka property \"", k, "\": ", err));
    }
  }
  return conf;
}

bool IsSecretProperty(absl::string_view key) {
  const std::string lower = absl::AsciiStrToLower(key);
  for (absl::string_view marker :
       {"password", "secret", "jaas", "token", "key.pem", "keystore", "credentials", "private"}) {
    if (absl::StrContains(lower, marker)) return true;
  }
  return false;
}

std::string KafkaProperties::Redacted() const {
  return absl::StrJoin(entries_, ", ", [](std::string* out, const auto& kv) {
    absl::StrAppend(out, kv.first, "=", IsSecretProperty(kv.first) ? "[redacted]" : kv.second);
  });
}

std::string ScramCompatibilityNote(const KafkaProperties& props, int librdkafka_version) {
  constexpr int kFixedIn = 0x020601ff;  // 2.6.1, as rd_kafka_version() encodes it
  const std::string* mechanism = props.Find("sasl.mechanism");
  if (mechanism == nullptr || librdkafka_version >= kFixedIn ||
      !absl::StartsWithIgnoreCase(*mechanism, "SCRAM-")) {
    return "";
  }
  return absl::StrCat(
      "; note: this librdkafka (", (librdkafka_version >> 24) & 0xff, ".",
      (librdkafka_version >> 16) & 0xff, ".", (librdkafka_version >> 8) & 0xff,
      ") cannot log in with ", *mechanism,
      " to Kafka 4.0 or later, which refuses it as invalid credentials even when the password "
      "is right (fixed in librdkafka 2.6.1): for such a cluster use SASL PLAIN or OAUTHBEARER "
      "over TLS, or mutual TLS");
}

}  // namespace cdnwarm::common
