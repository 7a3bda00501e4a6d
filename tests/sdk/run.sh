#!/usr/bin/env bash
# Starts omsd (SQLite in a temporary folder, or OMS_SDK_DATABASE_URL) and drives it with the
# official Huawei Cloud OMS Python SDK (tests/sdk/sdk_compat.py), installed into a venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
omsd=${OMSD:-$root/target/debug/omsd}
venv=${OMS_SDK_VENV:-$root/target/sdk-venv}
sdk_version=${OMS_SDK_VERSION:-3.1.219}

[ -x "$omsd" ] || cargo build -p omsd --manifest-path "$root/Cargo.toml"
if ! "$venv/bin/python" -c "import huaweicloudsdkoms" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "huaweicloudsdkoms==$sdk_version"
fi

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
project=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
ak="SDKTEST$(python3 -c 'import secrets; print(secrets.token_hex(6).upper())')"
sk=$(python3 -c 'import secrets; print(secrets.token_urlsafe(30))')
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(16))')
hash=$(printf '%s' "$password" | "$omsd" hash-password)
cat > "$work/oms.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[database]
url = "${OMS_SDK_DATABASE_URL:-sqlite://$work/data/oms.db}"
[security]
master_key_file = "$work/data/master.key"
[auth]
bootstrap_file = "$work/data/bootstrap.toml"
# The SDK drives the API through waiting, paused and resumed states; no store exists here, and
# a worker would claim the work at once (it is woken when work arrives).
[worker]
enabled = false
[[auth.users]]
name = "sdk-user"
password_hash = "$hash"
project_id = "$project"
[[auth.access_keys]]
access_key = "$ak"
secret_key = "$sk"
project_id = "$project"
TOML

# Starts omsd with the configuration $1, logging to $2; waits until it answers.
start_omsd() {
  "$omsd" --config "$1" all > "$2" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" > /dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$2"; exit 1; }
    sleep 0.1
  done
}
start_omsd "$work/oms.toml" "$work/omsd.log"

status=0
OMS_ENDPOINT="http://127.0.0.1:$port" OMS_PROJECT_ID="$project" OMS_AK="$ak" OMS_SK="$sk" \
  OMS_USER=sdk-user OMS_PASSWORD="$password" "$venv/bin/python" "$root/tests/sdk/sdk_compat.py" || status=$?
if grep -q -e "$sk" -e "SDK-SRC-SECRET" -e "SDK-DST-SECRET" "$work/omsd.log"; then
  echo "omsd's log shows a secret" >&2
  status=1
fi
[ "$status" -eq 0 ] || { echo "--- omsd log ---" >&2; tail -n 50 "$work/omsd.log" >&2; }

# Sync tasks (tests/sdk/sdk_sync.py) copy for real: a second omsd, with its worker, between two
# buckets of an s3s-fs server (OMS_S3S_FS, or installed into target/tools as the compose test
# does), on the same database.
s3s_fs=${OMS_S3S_FS:-$root/target/tools/bin/s3s-fs}
if [ ! -x "$s3s_fs" ]; then
  cargo install --quiet s3s-fs --version 0.14.1 --locked --features binary --root "$root/target/tools"
fi
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
s3_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
s3_ak="SDKS3$(python3 -c 'import secrets; print(secrets.token_hex(6).upper())')"
s3_sk=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
mkdir -p "$work/s3"
"$s3s_fs" --host 127.0.0.1 --port "$s3_port" --access-key "$s3_ak" --secret-key "$s3_sk" "$work/s3" \
  > "$work/s3s.log" 2>&1 &
s3_pid=$!
trap 'kill "$s3_pid" 2>/dev/null; cleanup' EXIT
sed -e "s|^enabled = false|enabled = true|" "$work/oms.toml" > "$work/sync.toml"
cat >> "$work/sync.toml" <<TOML
[[endpoints]]
cloud_type = "AWS"
region = "sdk-src"
url = "http://127.0.0.1:$s3_port"
path_style = true
[[endpoints]]
cloud_type = "HEC"
region = "sdk-dst"
url = "http://127.0.0.1:$s3_port"
path_style = true
TOML
start_omsd "$work/sync.toml" "$work/omsd-sync.log"
OMS_ENDPOINT="http://127.0.0.1:$port" OMS_PROJECT_ID="$project" OMS_AK="$ak" OMS_SK="$sk" \
  OMS_S3_URL="http://127.0.0.1:$s3_port" OMS_S3_AK="$s3_ak" OMS_S3_SK="$s3_sk" \
  OMS_SRC_REGION=sdk-src OMS_DST_REGION=sdk-dst \
  "$venv/bin/python" "$root/tests/sdk/sdk_sync.py" || status=$?
if grep -q -e "$sk" -e "$s3_sk" "$work/omsd-sync.log"; then
  echo "omsd's log shows a secret" >&2
  status=1
fi
[ "$status" -eq 0 ] || { echo "--- omsd log ---" >&2; tail -n 50 "$work/omsd-sync.log" >&2; }
exit "$status"
