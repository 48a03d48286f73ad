#pragma once

// Time as an input. Code that decides by the time of day (deadlines, windows, backoffs,
// ages) asks a Clock for "now", so a test can hand in a FakeClock (tests/support) and
// advance it instead of sleeping. Waiting itself (condition variables, polls) stays on the
// real clock.

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace cdnwarm::common {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // The process's clock (absl::Now), shared and stateless.
  static const Clock& Real();
};

inline const Clock& Clock::Real() {
  class RealClock final : public Clock {
   public:
    absl::Time Now() const override { return absl::Now(); }
  };
  static const RealClock real;
  return real;
}

}  // namespace cdnwarm::common
