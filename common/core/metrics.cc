#include "common/core/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/core/log.h"
#include "common/core/sync.h"

namespace cdnwarm::metrics {
namespace {

void AtomicAdd(std::atomic<double>& a, double by) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + by, std::memory_order_relaxed)) {
  }
}

bool ValidName(absl::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

absl::string_view TypeName(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

template <typename M>
std::unique_ptr<M> MakeChild(const std::vector<double>& bounds) {
  if constexpr (std::is_same_v<M, Histogram>) {
    return std::make_unique<M>(bounds);
  } else {
    (void)bounds;
    return std::make_unique<M>();
  }
}

// `{a="x",b="y"}` plus an optional extra label (for histogram `le`); empty when no labels.
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     absl::string_view extra_name = {}, absl::string_view extra_value = {}) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < names.size(); ++i) {
    parts.push_back(absl::StrCat(names[i], "=\"", EscapeLabelValue(values[i]), "\""));
  }
  if (!extra_name.empty()) {
    parts.push_back(absl::StrCat(extra_name, "=\"", EscapeLabelValue(extra_value), "\""));
  }
  if (parts.empty()) return "";
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

}  // namespace

void Counter::Increment(double by) {
  if (!(by >= 0)) {
    log::Error("metrics: counter increment must be non-negative; ignored", {{"by", by}});
    return;
  }
  AtomicAdd(value_, by);
}

void Gauge::Add(double by) { AtomicAdd(value_, by); }

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
}

Histogram::Snapshot Histogram::Take() const {
  Snapshot s;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

std::vector<double> LatencyBuckets() { return ExponentialBuckets(0.0005, 2, 16); }

template <typename M>
M& Family<M>::Labels(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) {
    log::Fatal("metrics: wrong number of label values",
               {{"metric", name_}, {"want", label_names_.size()}, {"got", values.size()}});
  }
  common::MutexLock lock(&mu_);
  auto& child = children_[values];
  if (!child) child = MakeChild<M>(bounds_);
  return *child;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Registry::Entry& Registry::Register(absl::string_view name, Type type,
                                    const std::vector<std::string>& labels) {
  if (!ValidName(name, /*allow_colon=*/true)) {
    log::Fatal("metrics: invalid metric name", {{"metric", name}});
  }
  for (const std::string& l : labels) {
    if (!ValidName(l, /*allow_colon=*/false) || absl::StartsWith(l, "__") || l == "le") {
      log::Fatal("metrics: invalid label name", {{"metric", name}, {"label", l}});
    }
  }
  auto [it, inserted] = entries_.try_emplace(std::string(name));
  Entry& e = it->second;
  if (inserted) {
    e.type = type;
    e.label_names = labels;
  } else if (e.type != type || e.label_names != labels) {
    log::Fatal("metrics: metric registered twice with different type or labels",
               {{"metric", name}});
  }
  return e;
}

template <typename M>
Family<M>& Registry::Add(std::unique_ptr<Family<M>> Entry::*slot, Type type, absl::string_view name,
                         absl::string_view help, std::vector<std::string> label_names,
                         std::vector<double> bounds) {
  common::MutexLock lock(&mu_);
  Entry& e = Register(name, type, label_names);
  std::unique_ptr<Family<M>>& family = e.*slot;
  if (!family) {
    family.reset(new Family<M>(std::string(name), std::string(help), std::move(label_names),
                               std::move(bounds)));
  }
  return *family;
}

Family<Counter>& Registry::AddCounter(absl::string_view name, absl::string_view help,
                                      std::vector<std::string> label_names) {
  return Add(&Entry::counter, Type::kCounter, name, help, std::move(label_names), {});
}

Family<Gauge>& Registry::AddGauge(absl::string_view name, absl::string_view help,
                                  std::vector<std::string> label_names) {
  return Add(&Entry::gauge, Type::kGauge, name, help, std::move(label_names), {});
}

Family<Histogram>& Registry::AddHistogram(absl::string_view name, absl::string_view help,
                                          std::vector<double> bounds,
                                          std::vector<std::string> label_names) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      log::Fatal("metrics: histogram bounds must be finite and strictly increasing",
                 {{"metric", name}});
    }
  }
  return Add(&Entry::histogram, Type::kHistogram, name, help, std::move(label_names),
             std::move(bounds));
}

template <typename M>
void Registry::AppendScalarSamples(const std::string& name, const Family<M>& family,
                                   std::string& out) {
  common::MutexLock family_lock(&family.mu_);
  for (const auto& [values, metric] : family.children_) {
    absl::StrAppend(&out, name, LabelSet(family.label_names_, values), " ",
                    FormatValue(metric->Value()), "\n");
  }
}

std::string Registry::Render() const {
  std::string out;
  common::MutexLock lock(&mu_);
  for (const auto& entry : entries_) {
    const std::string& name = entry.first;
    const auto& e = entry.second;
    const auto header = [&](const std::string& help) {
      absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(help), "\n");
      absl::StrAppend(&out, "# TYPE ", name, " ", TypeName(e.type), "\n");
    };
    switch (e.type) {
      case Type::kCounter:
        header(e.counter->help_);
        AppendScalarSamples(name, *e.counter, out);
        break;
      case Type::kGauge:
        header(e.gauge->help_);
        AppendScalarSamples(name, *e.gauge, out);
        break;
      case Type::kHistogram: {
        const auto& family = *e.histogram;
        header(family.help_);
        common::MutexLock family_lock(&family.mu_);
        for (const auto& [values, h] : family.children_) {
          const metrics::Histogram::Snapshot s = h->Take();
          for (size_t i = 0; i < s.cumulative.size(); ++i) {
            const std::string le =
                i < family.bounds_.size() ? FormatValue(family.bounds_[i]) : "+Inf";
            absl::StrAppend(&out, name, "_bucket", LabelSet(e.label_names, values, "le", le), " ",
                            s.cumulative[i], "\n");
          }
          absl::StrAppend(&out, name, "_sum", LabelSet(e.label_names, values), " ",
                          FormatValue(s.sum), "\n");
          absl::StrAppend(&out, name, "_count", LabelSet(e.label_names, values), " ", s.count,
                          "\n");
        }
        break;
      }
    }
  }
  return out;
}

Registry& DefaultRegistry() {
  static auto* registry = new Registry();  // Never destroyed: metrics outlive main's objects.
  return *registry;
}

namespace {

// The text format escapes backslash and newline everywhere, and '"' in label values.
std::string Escape(absl::string_view v, bool quotes) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quotes && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string EscapeLabelValue(absl::string_view v) { return Escape(v, /*quotes=*/true); }

std::string EscapeHelp(absl::string_view v) { return Escape(v, /*quotes=*/false); }

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Integral values print without an exponent or fraction; others round-trip exactly.
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrFormat("%.0f", v);
  return absl::StrFormat("%.17g", v);
}

}  // namespace cdnwarm::metrics
