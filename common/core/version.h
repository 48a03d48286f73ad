#pragma once

// What this build is: the project version (CMakeLists.txt) and the git commit it was built
// from ("<sha>-dirty" with uncommitted changes, "unknown" outside a checkout). Written at
// build time by cmake/GitVersion.cmake; printed by every binary's --version.

namespace cdnwarm::common {

extern const char kVersion[];
extern const char kGitCommit[];

}  // namespace cdnwarm::common
