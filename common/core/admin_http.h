#pragma once

// The admin port's routes: /metrics (Prometheus text format), /healthz (the process is
// alive) and /readyz (every readiness condition holds), served by common::HttpServer.

#include "common/core/http_server.h"
#include "common/core/metrics.h"
#include "common/core/readiness.h"

namespace cdnwarm::common {

// The standard routes over a registry and a readiness set; GET and HEAD only.
HttpHandler AdminRoutes(const metrics::Registry& registry, const Readiness& readiness);

}  // namespace cdnwarm::common
