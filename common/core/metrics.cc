#include "common/core/metrics.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/core/log.h"
#include "prometheus/check_names.h"
#include "prometheus/text_serializer.h"

namespace cdnwarm::metrics {
namespace {

template <typename M>
std::unique_ptr<M> MakeChild(prometheus::Family<typename Native<M>::type>& native,
                             const prometheus::Labels& labels, const std::vector<double>& bounds) {
  if constexpr (std::is_same_v<M, Histogram>) {
    return std::make_unique<M>(native.Add(labels, bounds));
  } else {
    (void)bounds;
    return std::make_unique<M>(native.Add(labels));
  }
}

// The text format escapes '\\' and newlines in HELP; prometheus-cpp 1.0.1 writes help as it
// is given (it escapes label values itself).
std::string HelpText(absl::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

void Counter::Increment(double by) {
  if (!(by >= 0)) {
    log::Error("metrics: counter increment must be non-negative; ignored", {{"by", by}});
    return;
  }
  c_->Increment(by);
}

double Counter::Value() const { return c_->Value(); }

void Gauge::Set(double v) { g_->Set(v); }
void Gauge::Add(double by) { g_->Increment(by); }
double Gauge::Value() const { return g_->Value(); }

void Histogram::Observe(double v) { h_->Observe(v); }

void Histogram::Observe(absl::Duration d) { h_->Observe(std::max(0.0, absl::ToDoubleSeconds(d))); }

Histogram::Snapshot Histogram::Take() const {
  const prometheus::ClientMetric m = h_->Collect();
  Snapshot s;
  for (const auto& b : m.histogram.bucket) s.cumulative.push_back(b.cumulative_count);
  s.count = m.histogram.sample_count;
  s.sum = m.histogram.sample_sum;
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
  if (!child) {
    prometheus::Labels labels;
    for (size_t i = 0; i < values.size(); ++i) labels.emplace(label_names_[i], values[i]);
    child = MakeChild<M>(native_, labels, bounds_);
  }
  return *child;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Registry::Registry() : native_(std::make_shared<prometheus::Registry>()) {}

Registry::Entry& Registry::Register(absl::string_view name, Type type,
                                    const std::vector<std::string>& labels) {
  if (!prometheus::CheckMetricName(std::string(name))) {
    log::Fatal("metrics: invalid metric name", {{"metric", name}});
  }
  for (const std::string& l : labels) {
    if (!prometheus::CheckLabelName(l) || l == "le") {
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

Family<Counter>& Registry::AddCounter(absl::string_view name, absl::string_view help,
                                      std::vector<std::string> label_names) {
  common::MutexLock lock(&mu_);
  Entry& e = Register(name, Type::kCounter, label_names);
  if (!e.counter) {
    auto& native =
        prometheus::BuildCounter().Name(std::string(name)).Help(HelpText(help)).Register(*native_);
    e.counter.reset(new Family<Counter>(std::string(name), std::move(label_names), native, {}));
  }
  return *e.counter;
}

Family<Gauge>& Registry::AddGauge(absl::string_view name, absl::string_view help,
                                  std::vector<std::string> label_names) {
  common::MutexLock lock(&mu_);
  Entry& e = Register(name, Type::kGauge, label_names);
  if (!e.gauge) {
    auto& native =
        prometheus::BuildGauge().Name(std::string(name)).Help(HelpText(help)).Register(*native_);
    e.gauge.reset(new Family<Gauge>(std::string(name), std::move(label_names), native, {}));
  }
  return *e.gauge;
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
  common::MutexLock lock(&mu_);
  Entry& e = Register(name, Type::kHistogram, label_names);
  if (!e.histogram) {
    auto& native = prometheus::BuildHistogram()
                       .Name(std::string(name))
                       .Help(HelpText(help))
                       .Register(*native_);
    e.histogram.reset(new Family<Histogram>(std::string(name), std::move(label_names), native,
                                            std::move(bounds)));
  }
  return *e.histogram;
}

std::string Registry::Render() const {
  std::vector<prometheus::MetricFamily> families = native_->Collect();
  std::sort(families.begin(), families.end(),
            [](const prometheus::MetricFamily& a, const prometheus::MetricFamily& b) {
              return a.name < b.name;
            });
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

Registry& DefaultRegistry() {
  static auto* registry = new Registry();  // Never destroyed: metrics outlive main's objects.
  return *registry;
}

}  // namespace cdnwarm::metrics
