// Prints a registry holding every metric type and every escaping case, so a real
// Prometheus text-format parser (tests/python/check_exposition.py) can check it.

#include <cstdio>

#include "common/core/metrics.h"

int main() {
  cdnwarm::metrics::Registry r;
  auto& requests =
      r.AddCounter("cdnwarm_requests_total", "RPCs served, by \\ and\nline.", {"rpc", "code"});
  requests.Labels({"Warm", "OK"}).Increment(41);
  requests.Labels({"Warm", "OK"}).Increment();
  requests.Labels({"quote\"back\\slash\nnewline", "caf\xc3\xa9"}).Increment(0.5);
  r.AddGauge("cdnwarm_queue_depth", "Records waiting.").Get().Set(-3.25);
  auto& h = r.AddHistogram("cdnwarm_latency_seconds", "Latency.",
                           cdnwarm::metrics::ExponentialBuckets(0.001, 10, 4), {"region"});
  for (double v : {0.0005, 0.002, 0.02, 0.2, 5.0}) h.Labels({"us-east"}).Observe(v);
  r.AddCounter("cdnwarm_empty_total", "A family with no children yet.", {"k"});
  std::fputs(r.Render().c_str(), stdout);
  return 0;
}
