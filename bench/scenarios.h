#pragma once

// The benchmark scenarios. Each runs against services bench/run.sh started (or its own
// baseline), prints one JSON report line on success and returns the error otherwise.

#include "absl/status/status.h"
#include "bench/bench_common.h"

namespace cdnwarm::bench {

// Producer intake (producer_bench.cc).
absl::Status ProduceBare(const Params& p);  // baseline: librdkafka, the producer's settings
absl::Status WarmBatch(const Params& p);    // URLs/s acknowledged by WarmBatch
absl::Status WarmUnary(const Params& p);    // unary Warm calls/s at a concurrency

// Bridge fan-out (bridge_bench.cc).
absl::Status Fanout(const Params& p);       // acked deliveries/s, regions x subscribers
absl::Status GrpcPump(const Params& p);     // baseline: bare gRPC server streaming
absl::Status ConsumeBare(const Params& p);  // baseline: librdkafka consumers, one group each
absl::Status BacklogHold(const Params& p);  // bridge memory with a backlog it cannot deliver

// Warmer (warmer_bench.cc).
absl::Status WarmerGet(const Params& p);  // the warmer's GETs/s against one edge

// End to end (e2e_bench.cc).
absl::Status E2eSaturate(const Params& p);  // region-warms/s through the whole mesh
absl::Status E2eLatency(const Params& p);   // Warm reply to warmed everywhere, paced

}  // namespace cdnwarm::bench
