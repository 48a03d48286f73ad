#pragma once

// A small Prometheus metrics registry: counters, gauges and histograms, each a family
// with optional labels, rendered in the text exposition format (version 0.0.4).
//
//   auto& requests = registry.AddCounter("cdnwarm_requests_total", "RPCs served", {"rpc", "code"});
//   requests.Labels({"Warm", "OK"}).Increment();
//
// Families and their children live as long as the registry; references stay valid.
// Updating a metric is lock-free; creating a labelled child takes a lock once.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "common/core/sync.h"

namespace cdnwarm::metrics {

class Counter {
 public:
  void Increment(double by = 1.0);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double by);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `bounds` are the upper bounds of the buckets, strictly increasing; +Inf is implied.
  explicit Histogram(const std::vector<double>& bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Take() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (+Inf)
  std::atomic<double> sum_{0.0};
};

// Exponential bucket bounds: start, start*factor, ... (count bounds).
std::vector<double> ExponentialBuckets(double start, double factor, int count);
// Default latency buckets in seconds, 0.5 ms .. ~16 s.
std::vector<double> LatencyBuckets();

enum class Type { kCounter, kGauge, kHistogram };

// A metric name with its children, one per distinct label value tuple.
template <typename M>
class Family {
 public:
  // The child for these label values (one per label name, in order); created on first use.
  M& Labels(const std::vector<std::string>& values);
  // The single child of a family without labels.
  M& Get() { return Labels({}); }

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // histograms only
  mutable common::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_ ABSL_GUARDED_BY(mu_);
};

class Registry {
 public:
  // Registering a name twice with the same type and labels returns the same family;
  // an invalid name or a conflicting re-registration is a programming error and aborts.
  Family<Counter>& AddCounter(absl::string_view name, absl::string_view help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(absl::string_view name, absl::string_view help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(absl::string_view name, absl::string_view help,
                                  std::vector<double> bounds,
                                  std::vector<std::string> label_names = {});

  // The whole registry in the Prometheus text format, families sorted by name.
  std::string Render() const;

 private:
  struct Entry {
    Type type;
    std::vector<std::string> label_names;
    std::unique_ptr<Family<metrics::Counter>> counter;
    std::unique_ptr<Family<metrics::Gauge>> gauge;
    std::unique_ptr<Family<metrics::Histogram>> histogram;
  };
  Entry& Register(absl::string_view name, Type type, const std::vector<std::string>& labels)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Registers `name` and creates its family in `slot` of the entry on first registration.
  template <typename M>
  Family<M>& Add(std::unique_ptr<Family<M>> Entry::*slot, Type type, absl::string_view name,
                 absl::string_view help, std::vector<std::string> label_names,
                 std::vector<double> bounds);
  // Appends one `name{labels} value` line per child of a counter or gauge family.
  template <typename M>
  static void AppendScalarSamples(const std::string& name, const Family<M>& family,
                                  std::string& out);

  mutable common::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

// The process-wide registry the admin endpoint serves.
Registry& DefaultRegistry();

// Exposed for tests: escaping rules of the text format.
std::string EscapeLabelValue(absl::string_view v);
std::string EscapeHelp(absl::string_view v);
std::string FormatValue(double v);

}  // namespace cdnwarm::metrics
