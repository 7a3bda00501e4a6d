#!/usr/bin/env bash
# A fleet on PostgreSQL, as operators run it: one `omsd api` and several `omsd worker`
# processes on one database, two S3 servers (s3s-fs), and a PREFIX task group large enough to
# be split into many tasks.
#
#   tests/fleet/run.sh          the test: 20,000 objects, 10 tasks, three workers; every worker
#                               must run some tasks; one is killed with SIGKILL mid-run; the
#                               group must complete with exact counters and every object's MD5
#                               identical at the destination.
#   tests/fleet/run.sh --bench  the same group with 1, 2 and 3 workers (no kill) on loopback,
#                               one table of wall time and objects/s (on one machine the
#                               workers share its cores: the benchmark's fleet@wan workload
#                               shows how a fleet scales across a WAN, docs/benchmark.md).
#
# Needs PostgreSQL: OMS_TEST_DATABASE_URL (a role that may create databases; .ci/run starts the
# machine's cluster and sets it). Uses target/debug/omsd unless OMSD is set, and s3s-fs from
# target/tools (installed with cargo if missing). OMS_FLEET_OBJECTS and OMS_FLEET_BYTES change
# the workload.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
MODE=test
[ "${1:-}" = --bench ] && MODE=bench
OBJECTS=${OMS_FLEET_OBJECTS:-20000}
BYTES=${OMS_FLEET_BYTES:-2048}
PER_TASK=${OMS_FLEET_TASK_OBJECTS:-2000}
started=$(date +%s)
say() { printf '[fleet +%ss] %s\n' "$(( $(date +%s) - started ))" "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

: "${OMS_TEST_DATABASE_URL:?set OMS_TEST_DATABASE_URL to a PostgreSQL URL (see .ci/run)}"
OMSD=${OMSD:-$ROOT/target/debug/omsd}
[ -x "$OMSD" ] || cargo build --locked -p omsd
if [ ! -x target/tools/bin/s3s-fs ]; then
  cargo install --quiet s3s-fs --version 0.14.1 --locked --features binary --root target/tools
fi
S3S=$ROOT/target/tools/bin/s3s-fs

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
  wait 2> /dev/null || true
  say "stopped; removing $WORK"
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
random() { python3 -c "import secrets; print(secrets.token_hex($1))"; }

PROJECT=$(random 16)
AK=FLEET$(random 6 | tr a-f A-F)
SK=$(random 20)
SRC_AK=FLEETSRC SRC_SK=$(random 16) DST_AK=FLEETDST DST_SK=$(random 16)
SRC_PORT=$(free_port) DST_PORT=$(free_port) API_PORT=$(free_port)
API=http://127.0.0.1:$API_PORT

# One database of its own, made anew (the role of OMS_TEST_DATABASE_URL creates it).
DB_NAME=oms_fleet_$$
base=${OMS_TEST_DATABASE_URL%%\?*}
query=${OMS_TEST_DATABASE_URL#"$base"}
DB_URL=${base%/*}/$DB_NAME$query
psql -q "$OMS_TEST_DATABASE_URL" -c "create database $DB_NAME" > /dev/null
drop_db() { psql -q "$OMS_TEST_DATABASE_URL" -c "drop database if exists $DB_NAME with (force)" > /dev/null 2>&1 || true; }
trap 'cleanup; drop_db; say "done"' EXIT

# The source: OBJECTS files of BYTES random bytes, written into s3s-fs's bucket folder.
mkdir -p "$WORK/src/photos" "$WORK/dst/backup"
say "seeding $OBJECTS objects of $BYTES bytes"
python3 - "$WORK/src/photos/fleet" "$OBJECTS" "$BYTES" <<'PY'
import os, sys
root, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(root, exist_ok=True)
for i in range(count):
    with open(os.path.join(root, f"obj-{i:05d}.bin"), "wb") as f:
        f.write(os.urandom(size))
PY
"$S3S" --host 127.0.0.1 --port "$SRC_PORT" --access-key "$SRC_AK" --secret-key "$SRC_SK" "$WORK/src" > "$WORK/s3-src.log" 2>&1 &
PIDS+=($!)
"$S3S" --host 127.0.0.1 --port "$DST_PORT" --access-key "$DST_AK" --secret-key "$DST_SK" "$WORK/dst" > "$WORK/s3-dst.log" 2>&1 &
PIDS+=($!)

head -c 32 /dev/urandom | base64 > "$WORK/master.key"
chmod 600 "$WORK/master.key"
cat > "$WORK/oms.toml" <<TOML
[server]
listen = "127.0.0.1:$API_PORT"
[database]
url = "$DB_URL"
[security]
master_key_file = "$WORK/master.key"
[[auth.access_keys]]
access_key = "$AK"
secret_key = "$SK"
project_id = "$PROJECT"
[worker]
max_tasks = 2
lease_ms = 6000
heartbeat_ms = 1000
poll_interval_ms = 500
group_task_max_objects = $PER_TASK
[[endpoints]]
cloud_type = "AWS"
region = "fleet-source"
url = "http://127.0.0.1:$SRC_PORT"
[[endpoints]]
cloud_type = "HEC"
region = "fleet-destination"
url = "http://127.0.0.1:$DST_PORT"
TOML

omsd() { "$OMSD" --config "$WORK/oms.toml" "$@"; }

"$OMSD" --config "$WORK/oms.toml" api > "$WORK/api.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 120); do curl -fsS "$API/readyz" > /dev/null 2>&1 && break; sleep 0.5; done
curl -fsS "$API/readyz" > /dev/null || { cat "$WORK/api.log" >&2; fail "the API did not start"; }
TOKEN=$(omsd token --project-id "$PROJECT")

# Starts worker $1 (its log in $WORK/worker-$1.log); its pid in WORKER_PID[$1].
declare -A WORKER_PID
start_worker() {
  "$OMSD" --config "$WORK/oms.toml" worker > "$WORK/worker-$1.log" 2>&1 &
  WORKER_PID[$1]=$!
  PIDS+=($!)
}

get() { curl -fsS -H "X-Auth-Token: $TOKEN" "$API/v2/$PROJECT/$1"; }
field() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }

# Creates the group (its id on stdout).
create_group() {
  curl -fsS -X POST "$API/v2/$PROJECT/taskgroups" -H "X-Auth-Token: $TOKEN" \
    -H 'Content-Type: application/json' -d "{
    \"task_type\": \"PREFIX\",
    \"src_node\": {\"cloud_type\": \"AWS\", \"region\": \"fleet-source\", \"ak\": \"$SRC_AK\",
                   \"sk\": \"$SRC_SK\", \"bucket\": \"photos\", \"object_key\": [\"fleet/\"]},
    \"dst_node\": {\"ak\": \"$DST_AK\", \"sk\": \"$DST_SK\", \"region\": \"fleet-destination\",
                   \"bucket\": \"backup\"}
  }" | field "['group_id']"
}

# Waits for group $1 to reach status 6 (completed); fails on 4 or 5 or after $2 seconds.
wait_completed() {
  local deadline=$(( $(date +%s) + $2 )) status
  while [ "$(date +%s)" -lt "$deadline" ]; do
    status=$(get "taskgroups/$1" | field "['status']")
    case $status in
      6) return 0 ;;
      4|5) get "taskgroups/$1" >&2; fail "group $1 ended in status $status" ;;
    esac
    sleep 1
  done
  get "taskgroups/$1" >&2
  fail "group $1 did not complete in $2 s"
}

# The group's counters, checked against the workload: every object copied once, none skipped,
# none failed, every byte counted; and its tasks, as many as the split promises, all completed.
check_group() {
  get "taskgroups/$1" > "$WORK/group.json"
  get "tasks?limit=100&group_id=$1" > "$WORK/tasks.json"
  python3 - "$WORK/group.json" "$WORK/tasks.json" "$1" "$OBJECTS" "$BYTES" "$PER_TASK" <<'PY'
import json, sys
group = json.load(open(sys.argv[1]))
tasks = [t for t in json.load(open(sys.argv[2]))["tasks"] if str(t.get("group_id")) == sys.argv[3]]
objects, size, per_task = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
want_tasks = -(-objects // per_task)
want = {"total_num": objects, "success_num": objects, "fail_num": 0, "skip_num": 0,
        "total_size": objects * size, "complete_size": objects * size,
        "total_task_num": want_tasks, "complete_task_num": want_tasks, "failed_task_num": 0}
wrong = {k: (group.get(k), v) for k, v in want.items() if group.get(k) != v}
if wrong:
    sys.exit(f"group counters (got, want): {wrong}")
if len(tasks) != want_tasks or any(t["status"] != 5 for t in tasks):
    sys.exit(f"tasks: {[(t['id'], t['status']) for t in tasks]}")
if sum(t["successful_num"] for t in tasks) != objects or any(t["skipped_num"] for t in tasks):
    sys.exit("task counters: " + str([(t["successful_num"], t["skipped_num"]) for t in tasks]))
PY
}

# Every object's MD5 at the destination equals the source's.
check_bytes() {
  (cd "$WORK/src/photos" && find fleet -type f -print0 | xargs -0 md5sum) > "$WORK/src.md5"
  [ "$(wc -l < "$WORK/src.md5")" -eq "$OBJECTS" ] || fail "the source folder is not what was seeded"
  (cd "$WORK/dst/backup" && md5sum -c --quiet "$WORK/src.md5") || fail "objects differ at the destination"
  local extra
  extra=$(cd "$WORK/dst/backup" && find fleet -type f | wc -l)
  [ "$extra" -eq "$OBJECTS" ] || fail "the destination holds $extra objects, not $OBJECTS"
}

# Task runs a worker started, from its log.
runs_of() { grep -c 'task run starts' "$WORK/worker-$1.log" || true; }

if [ "$MODE" = test ]; then
  for w in 1 2 3; do start_worker "$w"; done
  group=$(create_group)
  say "group $group: $OBJECTS objects, three workers"
  # Kill worker 2 (SIGKILL) once every worker is running a task and about a third is copied.
  victim_killed=
  deadline=$(( $(date +%s) + 600 ))
  while [ -z "$victim_killed" ] && [ "$(date +%s)" -lt "$deadline" ]; do
    done_num=$(get "taskgroups/$group" | field "['success_num']")
    if [ "$(runs_of 1)" -gt 0 ] && [ "$(runs_of 2)" -gt 0 ] && [ "$(runs_of 3)" -gt 0 ] \
       && [ "$done_num" -ge $(( OBJECTS / 3 )) ]; then
      kill -KILL "${WORKER_PID[2]}"
      victim_killed=yes
      say "worker 2 killed (SIGKILL) with $done_num of $OBJECTS objects copied"
    fi
    sleep 0.5
  done
  [ -n "$victim_killed" ] || fail "the three workers never all ran tasks (runs: $(runs_of 1) $(runs_of 2) $(runs_of 3))"
  wait_completed "$group" 900
  say "group completed; task runs per worker: 1: $(runs_of 1), 2: $(runs_of 2) (killed), 3: $(runs_of 3)"
  check_group "$group" || fail "counters"
  check_bytes
  say "passed: $OBJECTS objects byte-identical, counters exact, one worker killed mid-run"
else
  printf '\n%-8s %10s %12s %12s\n' workers seconds objects/s MiB/s
  for n in 1 2 3; do
    rm -rf "$WORK/dst/backup" && mkdir -p "$WORK/dst/backup"
    for w in $(seq 1 "$n"); do start_worker "$w"; done
    t0=$(date +%s.%N)
    group=$(create_group)
    wait_completed "$group" 1800
    t1=$(date +%s.%N)
    check_group "$group" > /dev/null 2>&1 || true
    check_bytes
    for w in $(seq 1 "$n"); do kill "${WORKER_PID[$w]}"; wait "${WORKER_PID[$w]}" 2> /dev/null || true; done
    python3 -c "
t = $t1 - $t0
print(f'{$n:<8} {t:10.1f} {$OBJECTS / t:12.0f} {$OBJECTS * $BYTES / t / 1048576:12.2f}')"
  done
fi
