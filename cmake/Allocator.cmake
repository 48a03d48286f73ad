# The memory allocator the services (and the load generators, so that baselines and services
# allocate alike) are linked with: cdnwarm_malloc, an INTERFACE target.
#
#   CDNWARM_MALLOC=tcmalloc   gperftools' tcmalloc_minimal (Debian: libgoogle-perftools-dev)
#   CDNWARM_MALLOC=jemalloc   jemalloc (Debian: libjemalloc-dev)
#   CDNWARM_MALLOC=system     glibc's malloc
#
# Default: tcmalloc, or system when a sanitizer or the fuzz build is on (they bring their own
# allocator). Why: a delivery through the bridge makes and frees a few dozen small objects
# (protobuf messages, strings, gRPC slices, librdkafka's ops) on several threads; glibc's
# malloc spent about 30% of the bridge's CPU on them (bench/README.md, fifth round).
set(CDNWARM_MALLOC "" CACHE STRING "Allocator for the executables: tcmalloc, jemalloc or system")
if(CDNWARM_MALLOC STREQUAL "")
  if(CDNWARM_SANITIZERS OR CDNWARM_BUILD_FUZZ)
    set(_cdnwarm_malloc system)
  else()
    set(_cdnwarm_malloc tcmalloc)
  endif()
else()
  set(_cdnwarm_malloc "${CDNWARM_MALLOC}")
endif()

# One cache variable per library (find_library caches its result), so that switching
# CDNWARM_MALLOC in a configured tree links the library asked for.
add_library(cdnwarm_malloc INTERFACE)
if(_cdnwarm_malloc STREQUAL "tcmalloc")
  find_library(CDNWARM_TCMALLOC_LIBRARY NAMES tcmalloc_minimal)
  set(_cdnwarm_malloc_library "${CDNWARM_TCMALLOC_LIBRARY}")
  set(_cdnwarm_malloc_package libgoogle-perftools-dev)
elseif(_cdnwarm_malloc STREQUAL "jemalloc")
  find_library(CDNWARM_JEMALLOC_LIBRARY NAMES jemalloc)
  set(_cdnwarm_malloc_library "${CDNWARM_JEMALLOC_LIBRARY}")
  set(_cdnwarm_malloc_package libjemalloc-dev)
elseif(NOT _cdnwarm_malloc STREQUAL "system")
  message(FATAL_ERROR "CDNWARM_MALLOC=${_cdnwarm_malloc}: use tcmalloc, jemalloc or system")
endif()
if(NOT _cdnwarm_malloc STREQUAL "system")
  if(NOT _cdnwarm_malloc_library)
    message(FATAL_ERROR "CDNWARM_MALLOC=${_cdnwarm_malloc}: the library is missing; install "
                        "${_cdnwarm_malloc_package} (scripts/install-deps.sh does), or "
                        "configure with -DCDNWARM_MALLOC=system")
  endif()
  if(CDNWARM_SANITIZERS)
    message(FATAL_ERROR "CDNWARM_MALLOC=${_cdnwarm_malloc} with sanitizers: they replace "
                        "malloc themselves; use -DCDNWARM_MALLOC=system")
  endif()
  # Nothing calls the allocator by name: --no-as-needed keeps the library a dependency, so
  # its malloc and operator new replace glibc's for the whole process.
  target_link_libraries(cdnwarm_malloc INTERFACE
    "-Wl,--push-state,--no-as-needed" "${_cdnwarm_malloc_library}" "-Wl,--pop-state")
endif()
message(STATUS "Allocator: ${_cdnwarm_malloc}")
