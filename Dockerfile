# syntax=docker/dockerfile:1
# One image for every role: `docker run booking:local <role>` (all, command-api, projector,
# lobby-gateway, etl, migrate, rebuild, verify, backfill, report; `--help` lists them).
#
# Dependencies are compiled in their own layer from cargo-chef's recipe (the manifests and the
# lock file only), so a change to the project's own code rebuilds just the workspace crates.

# The toolchain CI tests with; the workspace needs at least its rust-version (1.88).
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /app
# One set of profile settings for the dependency layer and the final build, or cargo would
# compile the dependencies again.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --package booking --bin booking
COPY . .
RUN cargo build --release --locked --package booking --bin booking

# glibc and libgcc (all the binary links besides itself), CA certificates, no shell, and a
# non-root user (65532).
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /app/target/release/booking /usr/local/bin/booking
USER nonroot:nonroot
# Gateway, command API, projector and etl health/metrics: set *_LISTEN to 0.0.0.0:<port>.
EXPOSE 8080 8081 9090 9091
ENTRYPOINT ["/usr/local/bin/booking"]
CMD ["--help"]
