#pragma once

// Readiness as a set of named conditions ("kafka", "subscribed", ...). The process is
// ready when every registered condition holds. Served on /readyz and through the gRPC
// health service, so Kubernetes and load balancers see the same answer.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "common/core/sync.h"

namespace cdnwarm::common {

class Readiness {
 public:
  // Registers `condition` on first use, then records whether it holds.
  void Set(absl::string_view condition, bool ok);
  bool Ready() const;
  // Conditions that do not hold, sorted.
  std::vector<std::string> Unmet() const;
  // Called with the new overall state whenever it changes. Runs under the internal lock:
  // a listener must not call back into this object.
  void OnChange(std::function<void(bool ready)> listener);

 private:
  mutable Mutex mu_;
  std::map<std::string, bool, std::less<>> conditions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(bool)>> listeners_ ABSL_GUARDED_BY(mu_);
  bool last_ ABSL_GUARDED_BY(mu_) = true;
};

}  // namespace cdnwarm::common
