# Portcullis container: multi-stage build, small non-root runtime image.
# Build:  docker build -t portcullis .
# Run:    docker run -p 8443:8443 -v "$PWD/config:/etc/portcullis/config:ro" \
#           -v "$PWD/certs:/etc/portcullis/certs:ro" portcullis

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
COPY src ./src
COPY benches ./benches
COPY config ./config
RUN cargo build --release --locked --bin portcullis

FROM debian:bookworm-slim
# ca-certificates follows Debian's security updates; pinning it would freeze stale roots.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /etc/portcullis --shell /usr/sbin/nologin portcullis
COPY --from=build /src/target/release/portcullis /usr/local/bin/portcullis
WORKDIR /etc/portcullis
VOLUME ["/etc/portcullis/config", "/etc/portcullis/certs"]
USER 10001
EXPOSE 8443
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["serve", "--config", "config/gateway.toml", "--log-format", "json"]
