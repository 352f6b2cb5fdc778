# The gpugate image: gpugate plus the TensorFlow GPU stack it tests with
# (TensorFlow's CUDA build and NVIDIA's CUDA 12 libraries, as
# `pip install tensorflow[and-cuda]` would install them), provisioned at build
# time so a run needs no network. The driver comes from the node: the NVIDIA
# container toolkit mounts it (NVIDIA_DRIVER_CAPABILITIES below asks for the
# CUDA driver and NVML).
#
#   docker build -t gpugate:2.20.0 --build-arg TENSORFLOW_VERSION=2.20.0 .
#   docker run --rm --gpus all gpugate:2.20.0 --suite gpu-basic
#
# Used by the GitLab component (templates/) and the Kubernetes Jobs (ci/k8s/).

ARG TENSORFLOW_VERSION=2.20.0

# 1. gpugate itself.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/gpugate

# 2. The TensorFlow GPU stack, fetched with pip and verified against each
#    wheel's RECORD (gpugate fetch-tensorflow --gpu).
FROM debian:bookworm-slim AS stack
ARG TENSORFLOW_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/gpugate /usr/local/bin/gpugate
ENV GPUGATE_CACHE_DIR=/opt/gpugate/cache
RUN gpugate fetch-tensorflow --gpu --tensorflow-version "$TENSORFLOW_VERSION" \
 && rm -rf /opt/gpugate/cache/downloads

# 3. What runs: no compiler, no pip, no network needed.
FROM debian:bookworm-slim
COPY --from=build /src/target/release/gpugate /usr/local/bin/gpugate
COPY --from=stack /opt/gpugate/cache /opt/gpugate/cache
# The cache is root's and read-only to the user gpugate runs as, which is what
# gpugate requires of a cache it loads native code from.
ENV GPUGATE_CACHE_DIR=/opt/gpugate/cache \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
RUN mkdir -p /reports && chown 65532:65532 /reports
USER 65532:65532
WORKDIR /reports
ENTRYPOINT ["gpugate"]
CMD ["--suite", "gpu-basic", "--junit", "/reports/gpugate.xml"]
