# Compiler warnings and sanitizers as INTERFACE targets; every cdnwarm target links both.

add_library(cdnwarm_warnings INTERFACE)
target_compile_options(cdnwarm_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wnull-dereference -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough
  -Wmisleading-indentation
  # GCC only; clang builds the fuzz targets.
  $<$<CXX_COMPILER_ID:GNU>:-Wduplicated-cond -Wlogical-op -Wuseless-cast>
  # clang only (the clang and fuzz presets): the thread model. Every absl::Mutex-guarded
  # member carries ABSL_GUARDED_BY, every function that needs a lock held says so, and the
  # analysis checks both at every use.
  $<$<CXX_COMPILER_ID:Clang>:-Wthread-safety -Wthread-safety-beta>)
if(CDNWARM_WERROR)
  target_compile_options(cdnwarm_warnings INTERFACE -Werror)
endif()

# Generated protobuf/gRPC code is not ours to fix; it gets the sanitizers but not the warnings.
add_library(cdnwarm_sanitizers INTERFACE)
if(CDNWARM_SANITIZERS)
  list(JOIN CDNWARM_SANITIZERS "," _cdnwarm_san)
  target_compile_options(cdnwarm_sanitizers INTERFACE
    -fsanitize=${_cdnwarm_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(cdnwarm_sanitizers INTERFACE -fsanitize=${_cdnwarm_san})
endif()
# Fuzz builds: every first-party object carries libFuzzer's coverage instrumentation; the
# fuzz targets link libFuzzer itself (tests/fuzz).
if(CDNWARM_BUILD_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CDNWARM_BUILD_FUZZ needs clang (libFuzzer); use the fuzz preset")
  endif()
  target_compile_options(cdnwarm_sanitizers INTERFACE -fsanitize=fuzzer-no-link)
endif()

# Every first-party target: warnings, sanitizers, and headers included from the repo root.
function(cdnwarm_target_defaults target)
  target_link_libraries(${target} PRIVATE cdnwarm_warnings cdnwarm_sanitizers)
endfunction()
