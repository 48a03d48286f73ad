# cdnwarm's three images, from one build: producer, streamer-bridge and warmer are targets.
#   docker build --target warmer -t ghcr.io/cdnwarm/warmer:0.1.0 .
#   scripts/images.sh build      all three, tagged with the version and the commit (podman)
#
# The build stage compiles the three services and the web console once (the run preset of
# CMakePresets.json). Each runtime image is distroless-style: FROM scratch with the binary,
# the shared libraries it loads and their Debian copyright files, CA certificates, and a
# passwd naming the non-root user 65532. No shell, no package manager (scripts/image-rootfs.sh).
#
# BASE_IMAGE is pinned by digest (the multi-arch index of debian:12-slim). To refresh it:
# scripts/images.sh pin (skopeo, where a registry is reachable), then commit the change.
ARG BASE_IMAGE=docker.io/library/debian:12-slim@sha256:d5d3f9c23164ea16f31852f95bd5959aad1c5e854332fe00f7b3a20fcc9f635c

# The build tools and the console's npm packages: rebuilt only when the package lists change.
FROM ${BASE_IMAGE} AS build-deps
# scripts/images.sh prunes what it built before by this label.
LABEL dev.cdnwarm.stage=build
# The build tools and -dev packages scripts/install-deps.sh installs for `run`, plus ccache.
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates ccache \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      librdkafka-dev libcurl4-openssl-dev libabsl-dev libre2-dev libssl-dev zlib1g-dev \
      libexpat1-dev libcpp-httplib-dev prometheus-cpp-dev libgoogle-perftools-dev nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The console's npm packages: this layer is rebuilt only when package-lock.json changes.
# Behind a TLS-inspecting proxy, pass its CA: --secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt
# (scripts/images.sh passes the host's bundle).
COPY console/package.json console/package-lock.json console/
RUN --mount=type=secret,id=ca-bundle \
    if [ -f /run/secrets/ca-bundle ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca-bundle; fi \
    && cd console && npm ci --no-audit --no-fund --loglevel=error \
    && cp package-lock.json node_modules/.cdnwarm-lock

# The services and the console, compiled once for the three targets.
FROM build-deps AS build
COPY . .
# .git is not in the context: the commit and version come as build arguments.
ARG CDNWARM_GIT_COMMIT=unknown
# ccache's directory is a build cache mount (BuildKit and buildah), so a rebuild after a
# small change compiles only what changed.
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake --preset run -DCDNWARM_GIT_COMMIT=$CDNWARM_GIT_COMMIT \
      -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    && cmake --build build/run --target producer streamer-bridge warmer console \
    && for s in producer streamer-bridge warmer; do \
         scripts/image-rootfs.sh build/run/$s/$s /rootfs/$s; done \
    && mkdir -p /rootfs/producer/usr/share/cdnwarm \
    && cp -r build/run/console /rootfs/producer/usr/share/cdnwarm/console

FROM scratch AS runtime
ARG CDNWARM_GIT_COMMIT=unknown
ARG CDNWARM_VERSION=0.1.0
ARG CDNWARM_SOURCE=https://github.com/cdnwarm/cdnwarm
LABEL org.opencontainers.image.source="$CDNWARM_SOURCE" \
      org.opencontainers.image.revision="$CDNWARM_GIT_COMMIT" \
      org.opencontainers.image.version="$CDNWARM_VERSION" \
      org.opencontainers.image.vendor="cdnwarm"
USER 65532:65532

# Validated, durable intake of URLs and job progress; serves the web console.
FROM runtime AS producer
COPY --from=build /rootfs/producer/ /
LABEL org.opencontainers.image.title="cdnwarm producer"
EXPOSE 50051 9101 8080
ENTRYPOINT ["/usr/local/bin/producer"]

# Kafka to gRPC fan-out, one consumer group per region.
FROM runtime AS streamer-bridge
COPY --from=build /rootfs/streamer-bridge/ /
LABEL org.opencontainers.image.title="cdnwarm streamer-bridge"
EXPOSE 50052 9102
ENTRYPOINT ["/usr/local/bin/streamer-bridge"]

# One region's libcurl warming engine.
FROM runtime AS warmer
COPY --from=build /rootfs/warmer/ /
LABEL org.opencontainers.image.title="cdnwarm warmer"
EXPOSE 50053 9103
ENTRYPOINT ["/usr/local/bin/warmer"]
