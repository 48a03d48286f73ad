// Hot-path cost of the shared metrics: services update them per request and per
// delivery, so an update must stay a few nanoseconds even under contention.

#include "benchmark/benchmark.h"
#include "common/core/metrics.h"

namespace {

void BM_CounterIncrement(benchmark::State& state) {
  static cdnwarm::metrics::Registry registry;
  auto& counter = registry.AddCounter("bench_total", "h").Get();
  for (auto _ : state) counter.Increment();
}
BENCHMARK(BM_CounterIncrement)->Threads(1)->Threads(2);

void BM_LabelledCounterLookup(benchmark::State& state) {
  static cdnwarm::metrics::Registry registry;
  auto& family = registry.AddCounter("bench_labelled_total", "h", {"rpc", "code"});
  for (auto _ : state) family.Labels({"Warm", "OK"}).Increment();
}
BENCHMARK(BM_LabelledCounterLookup);

void BM_HistogramObserve(benchmark::State& state) {
  static cdnwarm::metrics::Registry registry;
  auto& h = registry.AddHistogram("bench_seconds", "h", cdnwarm::metrics::LatencyBuckets()).Get();
  double v = 0.0001;
  for (auto _ : state) {
    h.Observe(v);
    v = v < 10 ? v * 1.1 : 0.0001;
  }
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2);

void BM_Render(benchmark::State& state) {
  cdnwarm::metrics::Registry registry;
  auto& family = registry.AddCounter("bench_render_total", "h", {"k"});
  for (int i = 0; i < state.range(0); ++i) family.Labels({std::to_string(i)}).Increment();
  for (auto _ : state) benchmark::DoNotOptimize(registry.Render());
}
BENCHMARK(BM_Render)->Arg(10)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
