#!/usr/bin/env bash
# The OMS benchmark in one command: builds omsd and the bench (release), installs the peers it
# compares with and the servers it runs on (Debian's rclone and wrk, s3s-fs 0.14.1 under
# target/bench-tools), then runs every workload. Arguments go to oms-bench (see --help), e.g.
#   bench/run.sh --workloads a,d --runs 5
# OMS_BENCH_PROFILE=dev builds the debug profile instead (CI's smoke run: bench/run.sh --smoke).
# The fleet workload (fleet@wan) needs a PostgreSQL server whose role may create databases:
# OMS_BENCH_DATABASE_URL=postgres://... (or --database-url); without it, it is left out.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/target/bench-tools"
if ! command -v rclone > /dev/null || ! command -v wrk > /dev/null; then
  apt-get install -y -qq rclone wrk > /dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq rclone wrk > /dev/null; }
fi
if [ ! -x "$tools/bin/s3s-fs" ]; then
  cargo install --quiet --locked --root "$tools" s3s-fs --version 0.14.1 --features binary
fi
profile="${OMS_BENCH_PROFILE:-release}"
cargo build --quiet --locked --profile "$profile" -p omsd -p oms-bench
out="${CARGO_TARGET_DIR:-target}/$([ "$profile" = dev ] && echo debug || echo "$profile")"
exec "$out/oms-bench" --omsd "$out/omsd" --s3s-fs "$tools/bin/s3s-fs" "$@"
