# omsd (and s3s-fs, the small S3 server of the demo stack) in an image.
#
#   docker build -t oms .                          build everything from source (Rust image)
#   docker build --target prebuilt -t oms .        use binaries built on the host, for machines
#                                                  without the Rust image: put `omsd` and
#                                                  `s3s-fs` (Debian 12 / glibc builds) in
#                                                  target/image/ first (tests/compose/run.sh does)
#
# The image holds no secret: the master key, the access keys and the database password come
# from the environment (see docker-compose.yml and .env.example).

FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p omsd \
 && cargo install s3s-fs --version 0.14.1 --locked --features binary --root /out \
 && mkdir -p /out/image \
 && cp target/release/omsd /out/bin/s3s-fs /out/image/

FROM docker.io/library/debian:bookworm-slim AS runtime
# curl for the health check; nothing else beyond the base.
RUN command -v curl > /dev/null \
 || (apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
     && rm -rf /var/lib/apt/lists/*)
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/oms --create-home oms \
 && mkdir -p /var/lib/oms/s3 /var/lib/oms/destination \
 && chown -R oms:oms /var/lib/oms
WORKDIR /var/lib/oms
# The data folder (SQLite database and keys of a one-node install; PostgreSQL installs keep
# only the first-start key file here).
VOLUME ["/var/lib/oms"]
ENV OMS__SERVER__LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz > /dev/null || exit 1
ENTRYPOINT ["omsd"]
CMD ["all"]

FROM runtime AS prebuilt
COPY target/image/omsd target/image/s3s-fs /usr/local/bin/
USER oms

FROM runtime AS default
COPY --from=build /out/image/omsd /out/image/s3s-fs /usr/local/bin/
USER oms
