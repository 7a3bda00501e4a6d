#!/usr/bin/env bash
# The demo stack (docker-compose.yml) for real, with podman, driven by deploy/stack.sh as the
# documentation tells a user to: first, stacks whose images cannot be pulled or built must make
# `deploy/stack.sh up` fail with a message; then the demo comes up, its group completes, every
# object's bytes are checked at the destination and the follow-up commands the demo prints are
# run as printed; then a second round kills one worker container mid-migration and checks that
# nothing is lost; then everything is torn down. A service that stops on its own fails the run
# at once, with its log.
#
# This machine has no Docker daemon and no image registry: base images are made from Debian's
# packages with mmdebstrap and `podman import` (debian:bookworm-slim, and PostgreSQL from
# tests/compose/Containerfile.postgres), and the omsd image is the Dockerfile's `prebuilt`
# target over binaries built here (OMS_COMPOSE_PROFILE: `dev` (default) or `release`).
#
# The stack runs from a copy of its files in target/compose/stack, with a .env of its own made by
# `deploy/stack.sh init`: podman-compose 1.0 reads the .env beside the compose file and lets it
# win over the environment, so a user's .env in the repository (the documentation's first step)
# would otherwise replace this run's settings. A user's .env is never read or changed.
#
# Usage: tests/compose/run.sh          (from anywhere; installs podman & co. with apt if missing)
#        OMS_COMPOSE_OMSD=path/to/omsd tests/compose/run.sh    (use an omsd built elsewhere)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PROFILE=${OMS_COMPOSE_PROFILE:-dev}
started=$(date +%s)
say() { printf '[compose +%ss] %s\n' "$(( $(date +%s) - started ))" "$*" >&2; }
die() { say "$*"; exit 1; }

if ! command -v podman > /dev/null || ! command -v podman-compose > /dev/null || ! command -v mmdebstrap > /dev/null; then
  say "installing podman, runc, podman-compose, mmdebstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc podman-compose mmdebstrap > /dev/null
fi

WORK=$ROOT/target/compose
mkdir -p "$WORK"
# The machine's crun fails in hybrid cgroups and its default ulimits are refused: runc, and no
# default ulimits, through a containers.conf of this run's own (the machine's files are left).
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
  OMSD_BIN=${CARGO_TARGET_DIR:-target}/release/omsd
else
  cargo build --locked -p omsd
  OMSD_BIN=${CARGO_TARGET_DIR:-target}/debug/omsd
fi
if [ ! -x target/tools/bin/s3s-fs ]; then
  cargo install --quiet s3s-fs --version 0.14.1 --locked --features binary --root target/tools
fi
mkdir -p target/image
cp "$OMSD_BIN" target/image/omsd
cp target/tools/bin/s3s-fs target/image/s3s-fs
say "building the omsd image (Dockerfile, target prebuilt)"
podman build --quiet --target prebuilt -t localhost/oms:test . > /dev/null

# The stack's files, copied where no user's .env is (see above), and this run's secrets.
STACK=$WORK/stack
rm -rf "$STACK"
mkdir -p "$STACK"
cp -r docker-compose.yml Dockerfile .dockerignore deploy "$STACK/"
export OMS_COMPOSE=podman-compose OMS_COMPOSE_PROJECT=omstest OMS_COMPOSE_FILE=$STACK/docker-compose.yml
PROJECT=$OMS_COMPOSE_PROJECT
deploy/stack.sh init > /dev/null
OMS_PROJECT_ID=$(sed -n 's/^OMS_PROJECT_ID=//p' "$STACK/.env")
export OMS_IMAGE=localhost/oms:test
export OMS_POSTGRES_IMAGE=localhost/oms-test-postgres:latest

teardown() {
  deploy/stack.sh down -v > /dev/null 2>&1 || true
  podman pod rm -f "pod_$PROJECT" > /dev/null 2>&1 || true
}
trap teardown EXIT

# Every service but those named (a worker killed on purpose) still runs.
alive() {
  local keep=() service
  for service in postgres s3-source s3-destination api worker-1 worker-2 demo; do
    [[ " $* " == *" $service "* ]] || keep+=("$service")
  done
  deploy/stack.sh check "${keep[@]}" 2> "$WORK/check.log" || { cat "$WORK/check.log" >&2; return 1; }
}

# The demo's group id, from its log (`up` returns once the demo has ended).
demo_group() {
  deploy/stack.sh logs demo 2> /dev/null | sed -n 's/^demo-group-id: //p' | tail -n 1
}

# The group as the API shows it.
group_state() {
  curl -fsS -H "X-Auth-Token: $(deploy/stack.sh token)" "http://127.0.0.1:8080/v2/$OMS_PROJECT_ID/taskgroups/$1"
}

# Waits for the group to complete (6); fails on 4 or 5, when a service stops (but those named
# after the limit), or after $2 seconds.
wait_completed() {
  local group=$1 limit=$2 state status
  shift 2
  for _ in $(seq 1 "$limit"); do
    alive "$@" || die "a service stopped while the group ran"
    state=$(group_state "$group" || true)
    status=$(printf '%s' "$state" | sed -n 's/.*"status":\([0-9]*\).*/\1/p')
    case "$status" in
      6) printf '%s' "$state"; return 0 ;;
      4|5) die "the group failed: $state" ;;
    esac
    sleep 1
  done
  die "the group did not complete in ${limit}s: $state"
}

field() { printf '%s' "$1" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"; }

# Every object of the source bucket folder, byte for byte at the destination (beside the
# task's records under oms/: its success list and verification manifest).
check_bytes() {
  local expected=$1
  podman run --rm --entrypoint /bin/sh \
    -v "${PROJECT}_source:/src:ro" -v "${PROJECT}_destination:/dst:ro" localhost/oms:test -c '
      cd /src/photos && src=$(ls | wc -l) && dst=$(ls /dst/backup | grep -vx oms | wc -l)
      [ "$src" -eq "'"$expected"'" ] || { echo "source holds $src objects"; exit 1; }
      [ "$dst" -eq "$src" ] || { echo "destination holds $dst objects, the source $src"; exit 1; }
      md5sum * > /tmp/src.md5 && (cd /dst/backup && md5sum -c --quiet /tmp/src.md5)'
}

# `up` must fail, naming what is missing, and must not wait for it.
expect_up_to_fail() {
  local name=$1 wanted=$2 log=$WORK/$1-up.log
  teardown
  if OMS_STACK_TIMEOUT_SECS=120 deploy/stack.sh up > "$log" 2>&1; then
    cat "$log" >&2
    die "$name: deploy/stack.sh up succeeded"
  fi
  grep -q "$wanted" "$log" || { cat "$log" >&2; die "$name: the failure does not say \"$wanted\""; }
  say "$name: deploy/stack.sh up failed as it should: $(grep -o "deploy/stack.sh: .*" "$log" | head -n 1)"
}

# Round 0: images that cannot be pulled, or built.
OMS_POSTGRES_IMAGE=localhost/oms-test-missing:none expect_up_to_fail unpullable "service postgres has no container"
OMS_IMAGE=localhost/oms-test-unbuilt:none expect_up_to_fail unbuilt "service s3-source has no container"
# The placeholders of .env.example are refused before anything starts.
mv "$STACK/.env" "$STACK/.env.run"
cp .env.example "$STACK/.env"
expect_up_to_fail placeholders "still holds the placeholders of .env.example"
mv "$STACK/.env.run" "$STACK/.env"

round() {
  local name=$1 objects=$2
  teardown
  say "$name: up ($objects objects)"
  deploy/stack.sh up > "$WORK/$name-up.log" 2>&1 || { cat "$WORK/$name-up.log" >&2; die "$name: deploy/stack.sh up failed"; }
  local group
  group=$(demo_group)
  [ -n "$group" ] || { deploy/stack.sh logs demo >&2 || true; die "$name: the demo printed no group"; }
  say "$name: demo group $group"
  echo "$group"
}

# Round 1: the demo as a user would run it.
export OMS_DEMO_OBJECTS=200 OMS_DEMO_OBJECT_BYTES=262144 OMS_DEMO_BANDWIDTH=0
group=$(round round1 200 | tail -n 1)
# The follow-up commands the demo prints, run as printed.
deploy/stack.sh logs demo 2> /dev/null | sed -n '/^demo: follow it/,/^demo-group-id:/p' | sed -n 's/^  //p' > "$WORK/follow.sh"
[ "$(wc -l < "$WORK/follow.sh")" -ge 2 ] || die "round 1: the demo printed no follow-up commands"
followed=$(bash -euo pipefail "$WORK/follow.sh") || die "round 1: the demo's follow-up commands failed: $(cat "$WORK/follow.sh")"
[ "$(printf '%s' "$followed" | sed -n 's/.*"group_id":"\([^"]*\)".*/\1/p')" = "$group" ] \
  || die "round 1: the demo's follow-up commands printed $followed"
say "round 1: the demo's follow-up commands work as printed"
state=$(wait_completed "$group" 300)
[ "$(field "$state" success_num)" = 200 ] && [ "$(field "$state" fail_num)" = 0 ] \
  || die "round 1: wrong counters: $state"
check_bytes 200
# The two workers' metrics add up to what the group counts.
copied=0
for w in worker-1 worker-2; do
  n=$(podman exec "${PROJECT}_${w}_1" curl -fsS http://127.0.0.1:9464/metrics \
    | awk '/^oms_objects_total\{.*outcome="copied"/ { s += $NF } END { print s + 0 }')
  copied=$(( copied + ${n:-0} ))
done
[ "$copied" = 200 ] || die "round 1: the workers' metrics count $copied copied objects, not 200"
say "round 1: the group completed; 200 objects byte-identical at the destination; metrics agree"

# Round 2: eight tasks on two workers, each held to 1 MB/s; one worker is killed mid-run.
export OMS_DEMO_OBJECTS=400 OMS_DEMO_OBJECT_BYTES=262144 OMS_DEMO_BANDWIDTH=1048576
export OMS_GROUP_TASK_MAX_OBJECTS=50 OMS_WORKER_LEASE_MS=10000
group=$(round round2 400 | tail -n 1)
done_now=0
for _ in $(seq 1 60); do
  alive || die "round 2: a service stopped before the kill"
  state=$(group_state "$group" || true)
  done_now=$(field "$state" success_num)
  [ -n "$done_now" ] && [ "$done_now" -ge 40 ] && break
  sleep 1
done
say "round 2: killing worker-1 with $done_now of 400 objects copied"
podman kill --signal KILL "${PROJECT}_worker-1_1" > /dev/null
state=$(wait_completed "$group" 420 worker-1)
[ "$(field "$state" success_num)" = 400 ] && [ "$(field "$state" fail_num)" = 0 ] \
  && [ "$(field "$state" total_num)" = 400 ] \
  || die "round 2: wrong counters: $state"
check_bytes 400
say "round 2: the group completed after the kill; 400 objects byte-identical, counters exact"
teardown
trap - EXIT
say "all green"
