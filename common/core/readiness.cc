#include "common/core/readiness.h"

#include "common/core/sync.h"

namespace cdnwarm::common {
namespace {

template <typename Map>
bool AllHold(const Map& conditions) {
  for (const auto& [name, ok] : conditions) {
    if (!ok) return false;
  }
  return true;
}

}  // namespace

void Readiness::Set(absl::string_view condition, bool ok) {
  MutexLock lock(&mu_);
  conditions_[std::string(condition)] = ok;
  const bool now = AllHold(conditions_);
  if (now == last_) return;
  last_ = now;
  // Under the lock, so listeners see changes in the order they happened.
  for (const auto& listener : listeners_) listener(now);
}

bool Readiness::Ready() const {
  MutexLock lock(&mu_);
  return AllHold(conditions_);
}

std::vector<std::string> Readiness::Unmet() const {
  MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [name, ok] : conditions_) {
    if (!ok) out.push_back(name);
  }
  return out;
}

void Readiness::OnChange(std::function<void(bool ready)> listener) {
  MutexLock lock(&mu_);
  listeners_.push_back(std::move(listener));
}

}  // namespace cdnwarm::common
