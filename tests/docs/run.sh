#!/usr/bin/env bash
# The docs test: every walkthrough of README.md and docs/*.md runs as written, and prints what
# the documentation shows.
#
# A walkthrough the reader is told to run is a fenced block opened with ```sh runnable. It is a
# whole script: pasted into a file and run with bash from the repository root (after
# `cargo build -p omsd -p omsctl`, with s3s-fs, curl and jq on PATH), it starts its servers, waits until
# they answer, fails loudly on any error and stops what it started. Under each command that
# prints something, the block shows the output as comment lines starting with `#> `.
# tests/docs/blocks.py runs every such block verbatim, each in a fresh folder against real
# servers (s3s-fs, Python's HTTP server, the omsd built here), and compares what it prints with
# those lines (ids, tokens, times and ports masked; `...` in a shown line stands for any text).
# It also checks that every relative link of the documentation leads to a file of the
# repository.
#
# Usage: tests/docs/run.sh [--list] [FILE...]    (default: README.md and docs/*.md)
#        OMS_DOCS_OMSD=path/to/omsd tests/docs/run.sh    (use an omsd built elsewhere; its
#        folder's omsctl, or OMS_DOCS_OMSCTL)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
started=$(date +%s)
say() { printf '[docs +%ss] %s\n' "$(( $(date +%s) - started ))" "$*" >&2; }

missing=()
for tool in curl jq python3; do command -v "$tool" > /dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > /dev/null
fi

if [ -n "${OMS_DOCS_OMSD:-}" ]; then
  OMSD=$OMS_DOCS_OMSD
  OMSCTL=${OMS_DOCS_OMSCTL:-$(dirname "$OMSD")/omsctl}
else
  say "building omsd and omsctl (debug, as the walkthroughs say)"
  cargo build --locked -p omsd -p omsctl
  OMSD=${CARGO_TARGET_DIR:-$ROOT/target}/debug/omsd
  OMSCTL=${CARGO_TARGET_DIR:-$ROOT/target}/debug/omsctl
fi
if [ ! -x target/tools/bin/s3s-fs ]; then
  say "installing s3s-fs 0.14.1 into target/tools"
  cargo install --quiet s3s-fs --version 0.14.1 --locked --features binary --root target/tools
fi

say "the docs test (tests/docs/blocks.py)"
python3 tests/docs/blocks.py --root "$ROOT" --omsd "$OMSD" --omsctl "$OMSCTL" --work "$ROOT/target/docs-test" \
  --path "$ROOT/target/tools/bin" "$@"
