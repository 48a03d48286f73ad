#pragma once

// JSON-lines logging: one object per line on stdout, written whole so lines from
// different threads never interleave. Fields are typed so numbers stay numbers.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cdnwarm::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// One key/value pair of a log line.
struct Field {
  using Value = std::variant<std::string, int64_t, uint64_t, double, bool>;

  Field(absl::string_view k, const char* v) : key(k), value(std::string(v)) {}
  Field(absl::string_view k, absl::string_view v) : key(k), value(std::string(v)) {}
  Field(absl::string_view k, std::string_view v) : key(k), value(std::string(v)) {}
  Field(absl::string_view k, const std::string& v) : key(k), value(v) {}
  Field(absl::string_view k, int v) : key(k), value(int64_t{v}) {}
  Field(absl::string_view k, long v) : key(k), value(int64_t{v}) {}
  Field(absl::string_view k, long long v) : key(k), value(int64_t{v}) {}
  Field(absl::string_view k, unsigned v) : key(k), value(uint64_t{v}) {}
  Field(absl::string_view k, unsigned long v) : key(k), value(uint64_t{v}) {}
  Field(absl::string_view k, unsigned long long v) : key(k), value(uint64_t{v}) {}
  Field(absl::string_view k, double v) : key(k), value(v) {}
  Field(absl::string_view k, bool v) : key(k), value(v) {}
  Field(absl::string_view k, const absl::Status& s) : key(k), value(s.ToString()) {}
  // Durations are logged in seconds, as a number.
  Field(absl::string_view k, absl::Duration d) : key(k), value(absl::ToDoubleSeconds(d)) {}

  absl::string_view key;
  Value value;
};

// Process-wide settings; call once from main before other threads log.
void SetService(absl::string_view service);
void SetMinLevel(Level level);
absl::Status ParseLevel(absl::string_view text, Level* level);

// Routes gRPC's own log lines through this module.
void CaptureGrpcLogs();

// Formats one line (no trailing newline); exposed for tests.
std::string FormatLine(absl::Time now, Level level, absl::string_view msg,
                       std::initializer_list<Field> fields);

void Write(Level level, absl::string_view msg, std::initializer_list<Field> fields);

inline void Debug(absl::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kDebug, msg, fields);
}
inline void Info(absl::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kInfo, msg, fields);
}
inline void Warn(absl::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kWarn, msg, fields);
}
inline void Error(absl::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kError, msg, fields);
}

// Start-up failure: logs at error level and exits with status 2.
[[noreturn]] void Fatal(absl::string_view msg, std::initializer_list<Field> fields = {});

// Appends `text` to `out` as a JSON string literal (quotes included); invalid UTF-8
// bytes are replaced by U+FFFD so every line stays valid JSON.
void AppendJsonString(std::string& out, absl::string_view text);

}  // namespace cdnwarm::log
