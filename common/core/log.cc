#include "common/core/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/core/sync.h"
#include "grpc/support/log.h"

namespace cdnwarm::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
common::Mutex g_write_mu;
// Set once from main before other threads start; read afterwards.
std::string& ServiceName() {
  static auto* name = new std::string("cdnwarm");  // Never destroyed: logging works in exit paths.
  return *name;
}

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  uint32_t min = 0;
  if (b0 < 0x80) return 1;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  uint32_t cp = b0 & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

void AppendValue(std::string& out, const Field::Value& value) {
  struct Visitor {
    std::string& out;
    void operator()(const std::string& v) { AppendJsonString(out, v); }
    void operator()(int64_t v) { absl::StrAppend(&out, v); }
    void operator()(uint64_t v) { absl::StrAppend(&out, v); }
    void operator()(bool v) { out += v ? "true" : "false"; }
    void operator()(double v) {
      // JSON has no NaN or infinity; they become strings rather than invalid lines.
      if (std::isfinite(v)) {
        absl::StrAppendFormat(&out, "%.17g", v);
      } else {
        AppendJsonString(out, absl::StrCat(v));
      }
    }
  };
  std::visit(Visitor{out}, value);
}

void GrpcLogSink(gpr_log_func_args* args) {
  Level level = Level::kInfo;
  if (args->severity == GPR_LOG_SEVERITY_DEBUG) level = Level::kDebug;
  if (args->severity == GPR_LOG_SEVERITY_ERROR) level = Level::kError;
  Write(level, args->message, {{"component", "grpc"}, {"file", args->file}, {"line", args->line}});
}

}  // namespace

void SetService(absl::string_view service) { ServiceName() = std::string(service); }

void SetMinLevel(Level level) { g_min_level.store(static_cast<int>(level)); }

absl::Status ParseLevel(absl::string_view text, Level* level) {
  const std::string lower = absl::AsciiStrToLower(text);
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (lower == LevelName(l)) {
      *level = l;
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("log level \"", std::string(text), "\" is not one of debug, info, warn, error"));
}

void CaptureGrpcLogs() { gpr_set_log_function(GrpcLogSink); }

void AppendJsonString(std::string& out, absl::string_view text) {
  out += '"';
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      const size_t len = Utf8SequenceLength(text, i);
      if (len == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(text.data() + i, len);
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7F) {
          absl::StrAppendFormat(&out, "\\u%04x", u);
        } else {
          out += c;
        }
    }
    ++i;
  }
  out += '"';
}

std::string FormatLine(absl::Time now, Level level, absl::string_view msg,
                       std::initializer_list<Field> fields) {
  std::string line;
  line.reserve(128 + msg.size());
  line += "{\"ts\":\"";
  line += absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", now, absl::UTCTimeZone());
  line += "\",\"level\":\"";
  line += LevelName(level);
  line += "\",\"service\":";
  AppendJsonString(line, ServiceName());
  line += ",\"msg\":";
  AppendJsonString(line, msg);
  for (const Field& f : fields) {
    line += ',';
    AppendJsonString(line, f.key);
    line += ':';
    AppendValue(line, f.value);
  }
  line += '}';
  return line;
}

void Write(Level level, absl::string_view msg, std::initializer_list<Field> fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  std::string line = FormatLine(absl::Now(), level, msg, fields);
  line += '\n';
  common::MutexLock lock(&g_write_mu);
  // One write(2) per line; a short write (pipe full) continues where it stopped.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stdout is gone; nothing sensible to do.
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void Fatal(absl::string_view msg, std::initializer_list<Field> fields) {
  Write(Level::kError, msg, fields);
  // Also on stderr, so the reason shows even where stdout is collected elsewhere.
  const std::string line = FormatLine(absl::Now(), Level::kError, msg, fields) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::_Exit(2);
}

}  // namespace cdnwarm::log
