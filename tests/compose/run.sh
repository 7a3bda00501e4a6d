#!/usr/bin/env bash
# The demo stack (docker-compose.yml) for real, with podman: builds the images, brings the stack
# up, waits for the demo group to complete and checks every object's bytes at the destination;
# then a second round kills one worker container mid-migration and checks that nothing is lost;
# then tears everything down.
#
# This machine has no Docker daemon and no image registry: base images are made from Debian's
# packages with mmdebstrap and `podman import` (debian:bookworm-slim, and PostgreSQL from
# tests/compose/Containerfile.postgres), and the omsd image is the Dockerfile's `prebuilt`
# target over binaries built here (OMS_COMPOSE_PROFILE: `dev` (default) or `release`).
#
# Usage: tests/compose/run.sh          (from anywhere; installs podman & co. with apt if missing)
#        OMS_COMPOSE_OMSD=path/to/omsd tests/compose/run.sh    (use an omsd built elsewhere)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PROFILE=${OMS_COMPOSE_PROFILE:-dev}
PROJECT=omstest
started=$(date +%s)
say() { printf '[compose +%ss] %s\n' "$(( $(date +%s) - started ))" "$*" >&2; }

if ! command -v podman > /dev/null || ! command -v podman-compose > /dev/null || ! command -v mmdebstrap > /dev/null; then
  say "installing podman, runc, podman-compose, mmdebstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc podman-compose mmdebstrap > /dev/null
fi

WORK=$ROOT/target/compose
mkdir -p "$WORK"
# The machine's crun fails in hybrid cgroups and its default ulimits are refused (TESTING.md).
cat > "$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$WORK/containers.conf

image_exists() { podman image exists "$1"; }

if ! image_exists docker.io/library/debian:bookworm-slim; then
  say "making debian:bookworm-slim from Debian's packages"
  mmdebstrap --quiet --variant=minbase --include=ca-certificates,curl bookworm "$WORK/debian.tar"
  podman import --quiet "$WORK/debian.tar" docker.io/library/debian:bookworm-slim > /dev/null
  rm -f "$WORK/debian.tar"
fi
if ! image_exists localhost/oms-test-postgres-base:latest; then
  say "making a PostgreSQL base image from Debian's packages"
  mmdebstrap --quiet --variant=minbase --include=ca-certificates,postgresql bookworm "$WORK/postgres.tar"
  podman import --quiet "$WORK/postgres.tar" localhost/oms-test-postgres-base:latest > /dev/null
  rm -f "$WORK/postgres.tar"
fi
say "building the PostgreSQL image"
podman build --quiet -f tests/compose/Containerfile.postgres -t localhost/oms-test-postgres:latest . > /dev/null

say "building omsd ($PROFILE) and s3s-fs"
if [ -n "${OMS_COMPOSE_OMSD:-}" ]; then
  OMSD_BIN=$OMS_COMPOSE_OMSD               # an omsd built elsewhere (Debian 12, glibc)
elif [ "$PROFILE" = release ]; then
  cargo build --release --locked -p omsd
  OMSD_BIN=target/release/omsd
else
  cargo build --locked -p omsd
  OMSD_BIN=target/debug/omsd
fi
if [ ! -x target/tools/bin/s3s-fs ]; then
  cargo install --quiet s3s-fs --version 0.14.1 --locked --features binary --root target/tools
fi
mkdir -p target/image
cp "$OMSD_BIN" target/image/omsd
cp target/tools/bin/s3s-fs target/image/s3s-fs
say "building the omsd image (Dockerfile, target prebuilt)"
podman build --quiet --target prebuilt -t localhost/oms:test . > /dev/null

# Secrets of this run only, from the environment (the way .env would give them).
export OMS_IMAGE=localhost/oms:test
export OMS_POSTGRES_IMAGE=localhost/oms-test-postgres:latest
export OMS_MASTER_KEY
OMS_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
export OMS_DB_PASSWORD=db-$RANDOM$RANDOM
export OMS_PROJECT_ID=0123456789abcdef0123456789abcdef
export OMS_ACCESS_KEY=COMPOSETESTAK
export OMS_SECRET_KEY=sk-$RANDOM$RANDOM
export OMS_DEMO_SOURCE_SK=src-$RANDOM$RANDOM
export OMS_DEMO_DESTINATION_SK=dst-$RANDOM$RANDOM

compose() { podman-compose -p "$PROJECT" -f docker-compose.yml "$@"; }
teardown() {
  compose down -v > /dev/null 2>&1 || true
  podman pod rm -f "pod_$PROJECT" > /dev/null 2>&1 || true
}
trap teardown EXIT

token() {
  podman exec "${PROJECT}_api_1" omsd --config /etc/oms/oms.toml token --project-id "$OMS_PROJECT_ID"
}

# The demo's group id, once the demo container has printed it.
demo_group() {
  local group=""
  for _ in $(seq 1 180); do
    group=$(podman logs "${PROJECT}_demo_1" 2>/dev/null | sed -n 's/^demo-group-id: //p' | tail -n 1)
    [ -n "$group" ] && { echo "$group"; return 0; }
    sleep 1
  done
  podman logs "${PROJECT}_demo_1" >&2 || true
  return 1
}

# The group as the API shows it.
group_state() {
  curl -fsS -H "X-Auth-Token: $(token)" "http://127.0.0.1:8080/v2/$OMS_PROJECT_ID/taskgroups/$1"
}

# Waits for the group to complete (6); fails on 4 or 5, or after $2 seconds.
wait_completed() {
  local group=$1 limit=$2 state status
  for _ in $(seq 1 "$limit"); do
    state=$(group_state "$group" || true)
    status=$(printf '%s' "$state" | sed -n 's/.*"status":\([0-9]*\).*/\1/p')
    case "$status" in
      6) printf '%s' "$state"; return 0 ;;
      4|5) say "the group failed: $state"; return 1 ;;
    esac
    sleep 1
  done
  say "the group did not complete in ${limit}s: $state"
  return 1
}

field() { printf '%s' "$1" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"; }

# Every object of the source bucket folder, byte for byte at the destination.
check_bytes() {
  local expected=$1
  podman run --rm --entrypoint /bin/sh \
    -v "${PROJECT}_source:/src:ro" -v "${PROJECT}_destination:/dst:ro" localhost/oms:test -c '
      cd /src/photos && src=$(ls | wc -l) && dst=$(ls /dst/backup | wc -l)
      [ "$src" -eq "'"$expected"'" ] || { echo "source holds $src objects"; exit 1; }
      [ "$dst" -eq "$src" ] || { echo "destination holds $dst objects, the source $src"; exit 1; }
      md5sum * > /tmp/src.md5 && (cd /dst/backup && md5sum -c --quiet /tmp/src.md5)'
}

round() {
  local name=$1 objects=$2
  teardown
  say "$name: up ($objects objects)"
  compose up -d > "$WORK/$name-up.log" 2>&1 || { cat "$WORK/$name-up.log"; return 1; }
  local group
  group=$(demo_group)
  say "$name: demo group $group"
  echo "$group"
}

# Round 1: the demo as a user would run it.
export OMS_DEMO_OBJECTS=200 OMS_DEMO_OBJECT_BYTES=262144 OMS_DEMO_BANDWIDTH=0
group=$(round round1 200 | tail -n 1)
state=$(wait_completed "$group" 300)
[ "$(field "$state" success_num)" = 200 ] && [ "$(field "$state" fail_num)" = 0 ] \
  || { say "round 1: wrong counters: $state"; exit 1; }
check_bytes 200
# The two workers' metrics add up to what the group counts.
copied=0
for w in worker-1 worker-2; do
  n=$(podman exec "${PROJECT}_${w}_1" curl -fsS http://127.0.0.1:9464/metrics \
    | awk '/^oms_objects_total\{.*outcome="copied"/ { s += $NF } END { print s + 0 }')
  copied=$(( copied + ${n:-0} ))
done
[ "$copied" = 200 ] || { say "round 1: the workers' metrics count $copied copied objects, not 200"; exit 1; }
say "round 1: the group completed; 200 objects byte-identical at the destination; metrics agree"

# Round 2: eight tasks on two workers, each held to 1 MB/s; one worker is killed mid-run.
export OMS_DEMO_OBJECTS=400 OMS_DEMO_OBJECT_BYTES=262144 OMS_DEMO_BANDWIDTH=1048576
export OMS_GROUP_TASK_MAX_OBJECTS=50 OMS_WORKER_LEASE_MS=10000
group=$(round round2 400 | tail -n 1)
for _ in $(seq 1 60); do
  state=$(group_state "$group" || true)
  done_now=$(field "$state" success_num)
  [ -n "$done_now" ] && [ "$done_now" -ge 40 ] && break
  sleep 1
done
say "round 2: killing worker-1 with $done_now of 400 objects copied"
podman kill --signal KILL "${PROJECT}_worker-1_1" > /dev/null
state=$(wait_completed "$group" 420)
[ "$(field "$state" success_num)" = 400 ] && [ "$(field "$state" fail_num)" = 0 ] \
  && [ "$(field "$state" total_num)" = 400 ] \
  || { say "round 2: wrong counters: $state"; exit 1; }
check_bytes 400
say "round 2: the group completed after the kill; 400 objects byte-identical, counters exact"
teardown
trap - EXIT
say "all green"
