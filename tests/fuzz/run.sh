#!/usr/bin/env bash
# Fuzzes omsd's API against its own OpenAPI document with Schemathesis (all checks): every
# request the document calls valid must be accepted (tests/fuzz/hooks.py names the refusals OMS
# makes on purpose), every request it calls invalid refused, every answer must match the
# document, and nothing may answer 5xx. Exits non-zero on any finding.
#
# Starts omsd (SQLite in a temporary folder, worker off) on a free port, with endpoint rules
# that make every region known (which regions an installation knows is its configuration, not
# the document's), and stops it at the end.
#
# OMS_FUZZ_EXAMPLES: test cases per operation and phase (default 50: about 1.5 minutes on 2
# cores; 100 take about 3);
# OMS_FUZZ_SEED: the seed (default a fixed one, so a run can be repeated; "random" for a new one).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
omsd=${OMSD:-$root/target/debug/omsd}
venv=${OMS_FUZZ_VENV:-$root/target/schemathesis-venv}
schemathesis_version=4.32.5
examples=${OMS_FUZZ_EXAMPLES:-50}
seed=${OMS_FUZZ_SEED:-20261130}

[ -x "$omsd" ] || cargo build -p omsd --manifest-path "$root/Cargo.toml"
if [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $schemathesis_version" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
  printf '[server]\nlisten = "127.0.0.1:%s"\n[worker]\nenabled = false\n' "$port"
  # Nothing listens on port 9: the check of keys on start finds the stores unreachable, which
  # does not block a start.
  for cloud in AWS Aliyun Tencent HuaweiCloud QingCloud KingsoftCloud Baidu Qiniu UCloud HEC; do
    printf '[[endpoints]]\ncloud_type = "%s"\nregion = "*"\nurl = "http://127.0.0.1:9"\n' "$cloud"
  done
} > "$work/oms.toml"

# A first start in $work: omsd creates the project and key of data/bootstrap.toml there.
(cd "$work" && OMS_CONFIG=oms.toml exec "$omsd") > "$work/omsd.out" 2> "$work/omsd.log" &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" > /dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/omsd.log"; exit 1; }
  sleep 0.1
done
token=$(cd "$work" && OMS_CONFIG=oms.toml "$omsd" token)
project=$(sed -n 's/^project_id = "\(.*\)"$/\1/p' "$work/data/bootstrap.toml")

# The document as served, with `{project_id}` narrowed to this installation's project: any
# other is refused with 403, so generating others tests nothing but the refusal.
curl -fsS "http://127.0.0.1:$port/openapi.json" > "$work/openapi.json"
python3 - "$work/openapi.json" "$project" <<'PY'
import json, sys
path, project = sys.argv[1], sys.argv[2]
doc = json.load(open(path))
for item in doc["paths"].values():
    for operation in item.values():
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"] == "project_id":
                parameter["schema"] = {"type": "string", "enum": [project]}
json.dump(doc, open(path, "w"))
PY

seed_args=(--seed "$seed")
[ "$seed" = random ] && seed_args=()
status=0
(cd "$root" && OMS_TOKEN="$token" "$venv/bin/schemathesis" \
  --config-file tests/fuzz/schemathesis.toml run "$work/openapi.json" \
  --url "http://127.0.0.1:$port" --checks all --max-examples "$examples" "${seed_args[@]}" \
  --report junit --report-junit-path "$root/target/schemathesis-junit.xml") || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- omsd log (last 50 lines)"
  tail -n 50 "$work/omsd.log"
fi
exit "$status"
