#pragma once

// Prometheus metrics: counters, gauges and histograms, each a family with optional labels,
// kept by prometheus-cpp (Debian's prometheus-cpp-dev) and rendered by its text serializer
// (exposition format 0.0.4). This header is the small surface the services use:
//
//   auto& requests = registry.AddCounter("cdnwarm_requests_total", "RPCs served", {"rpc", "code"});
//   requests.Labels({"Warm", "OK"}).Increment();
//
// Families and their children live as long as the registry; references stay valid.
// Updating a counter or gauge is lock-free; a histogram observation takes its own lock;
// creating a labelled child takes the family's lock once.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/core/sync.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace cdnwarm::metrics {

class Counter {
 public:
  explicit Counter(prometheus::Counter& c) : c_(&c) {}
  // A negative or NaN increment is ignored (and logged).
  void Increment(double by = 1.0);
  double Value() const;

 private:
  prometheus::Counter* c_;
};

class Gauge {
 public:
  explicit Gauge(prometheus::Gauge& g) : g_(&g) {}
  void Set(double v);
  void Add(double by);
  double Value() const;

 private:
  prometheus::Gauge* g_;
};

class Histogram {
 public:
  explicit Histogram(prometheus::Histogram& h) : h_(&h) {}
  void Observe(double v);
  // A duration, in seconds. A negative one (an age across two hosts' clocks) counts as 0.
  void Observe(absl::Duration d);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Take() const;

 private:
  prometheus::Histogram* h_;
};

// Exponential bucket bounds: start, start*factor, ... (count bounds).
std::vector<double> ExponentialBuckets(double start, double factor, int count);
// Default latency buckets in seconds, 0.5 ms .. ~16 s.
std::vector<double> LatencyBuckets();

enum class Type { kCounter, kGauge, kHistogram };

template <typename M>
struct Native;
template <>
struct Native<Counter> {
  using type = prometheus::Counter;
};
template <>
struct Native<Gauge> {
  using type = prometheus::Gauge;
};
template <>
struct Native<Histogram> {
  using type = prometheus::Histogram;
};

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
  using NativeFamily = prometheus::Family<typename Native<M>::type>;
  Family(std::string name, std::vector<std::string> label_names, NativeFamily& native,
         std::vector<double> bounds)
      : name_(std::move(name)),
        label_names_(std::move(label_names)),
        native_(native),
        bounds_(std::move(bounds)) {}

  const std::string name_;
  const std::vector<std::string> label_names_;
  NativeFamily& native_;
  const std::vector<double> bounds_;  // histograms only
  mutable common::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_ ABSL_GUARDED_BY(mu_);
};

class Registry {
 public:
  Registry();
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

  mutable common::Mutex mu_;
  const std::shared_ptr<prometheus::Registry> native_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

// The process-wide registry the admin endpoint serves.
Registry& DefaultRegistry();

}  // namespace cdnwarm::metrics
