# syntax=docker/dockerfile:1.7
#
# Courier's images, built from the checkout root:
#
#   docker build -t courier:dev .                  the `courier` CLI: `courier asgardian|iris|hermes`,
#                                                   plus `courier-events` (migrate, replay, dead letters)
#   docker build --target web -t courier-web:dev . the two web fronts, static files behind nginx
#
# One image for the three services, not one per service: they are one executable whose first
# argument picks the service, so a single release build, one set of shared libraries, one
# vulnerability scan and one tag roll out a consistent version of all three; an image per service
# would be three copies of the same binary. Kubernetes and compose choose the service with `args`.
#
# Swift's runtime is linked statically (--static-swift-stdlib), so the runtime stage needs only the
# C libraries the binary links (`ldd courier`): libpq5 (Postgres), libnghttp2-14 (gRPC's HTTP/2),
# libcurl4 (SMTP), plus libstdc++6 and zlib1g, which debian:bookworm-slim already has.

ARG SWIFT_IMAGE=swift:6.3.1-bookworm
ARG DEBIAN_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------- build
FROM ${SWIFT_IMAGE} AS build
# protoc and the well-known types for the code-generation plugin; the C headers of the shims.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      protobuf-compiler libprotobuf-dev libnghttp2-dev libpq-dev libcurl4-openssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first: this layer is reused while Package.swift and Package.resolved stay the same.
COPY Package.swift Package.resolved* ./
RUN swift package resolve
COPY Plugins Plugins
COPY Sources Sources
COPY proto proto
COPY Tests Tests
RUN --mount=type=cache,target=/src/.build,id=courier-swift-build \
    swift build -c release --static-swift-stdlib --product courier \
 && swift build -c release --static-swift-stdlib --product courier-events \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/courier" /out/courier \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/courier-events" /out/courier-events

# ---------------------------------------------------------------------------- runtime
FROM ${DEBIAN_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 libnghttp2-14 libcurl4 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 courier \
 && useradd --system --uid 10001 --gid courier --home-dir /var/lib/courier --shell /usr/sbin/nologin courier \
 && install -d -o courier -g courier -m 0750 /var/lib/courier
COPY --from=build /out/courier /out/courier-events /usr/local/bin/
COPY deploy/docker/healthcheck.sh /usr/local/bin/courier-healthcheck
WORKDIR /var/lib/courier
# Listen on every interface inside the container (the services default to 127.0.0.1); the ports
# are each service's defaults, so compose and Kubernetes need not set them.
ENV ASGARDIAN_GRPC_HOST=0.0.0.0 ASGARDIAN_HTTP_HOST=0.0.0.0 \
    IRIS_GRPC_HOST=0.0.0.0 IRIS_HTTP_HOST=0.0.0.0 \
    HERMES_GRPC_HOST=0.0.0.0 HERMES_HTTP_HOST=0.0.0.0 \
    LOG_LEVEL=info
# gRPC 50051-50053, HTTP (REST, /metrics, /healthz, /readyz) 8081-8083.
EXPOSE 50051 50052 50053 8081 8082 8083
USER 10001:10001
# /healthz of whichever service this container runs (the script reads it from PID 1's arguments).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["/usr/local/bin/courier-healthcheck"]
ENTRYPOINT ["/usr/local/bin/courier"]
CMD ["--help-env"]

# ---------------------------------------------------------------------------- web fronts
FROM nginxinc/nginx-unprivileged:1.27-bookworm AS web
COPY deploy/nginx/web.conf /etc/nginx/conf.d/default.conf
COPY web/user-client /usr/share/courier/web/user-client
COPY web/admin-client /usr/share/courier/web/admin-client
EXPOSE 8080
# bash's /dev/tcp, as in the courier image: no curl needed.
HEALTHCHECK --interval=10s --timeout=3s CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -c 12 <&3 | grep -q ' 200'"]
