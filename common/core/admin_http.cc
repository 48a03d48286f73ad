#include "common/core/admin_http.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cdnwarm::common {

HttpHandler AdminRoutes(const metrics::Registry& registry, const Readiness& readiness) {
  return [&registry, &readiness](const HttpRequest& request) {
    HttpResponse r;
    if (request.method != "GET" && request.method != "HEAD") {
      r.status = 405;
      r.body = "only GET and HEAD\n";
      r.headers.emplace_back("Allow", "GET, HEAD");
    } else if (request.path == "/metrics") {
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = registry.Render();
    } else if (request.path == "/healthz") {
      r.body = "ok\n";
    } else if (request.path == "/readyz") {
      const std::vector<std::string> unmet = readiness.Unmet();
      if (unmet.empty()) {
        r.body = "ready\n";
      } else {
        r.status = 503;
        r.body = absl::StrCat("not ready: ", absl::StrJoin(unmet, ", "), "\n");
      }
    } else {
      r.status = 404;
      r.body = "not found; try /metrics, /healthz or /readyz\n";
    }
    return r;
  };
}

}  // namespace cdnwarm::common
