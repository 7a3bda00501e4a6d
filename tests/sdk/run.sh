#!/usr/bin/env bash
# Starts omsd (SQLite in a temporary folder, or OMS_SDK_DATABASE_URL) and drives it with the
# official Huawei Cloud OMS Python SDK (tests/sdk/sdk_compat.py, then tests/sdk/sdk_catalogue.py
# for the bucket and catalogue helpers), installed into a venv. The helpers ask a real S3 server:
# an s3s-fs (OMS_S3S_FS, else target/tools/bin/s3s-fs, else on PATH, else installed there with
# cargo), which omsd's [[endpoints]] map region sdk-1 to, and a plain HTTP server over the same
# folder as a CDN in front of it.
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

s3s_fs=${OMS_S3S_FS:-$root/target/tools/bin/s3s-fs}
if [ ! -x "$s3s_fs" ]; then
  s3s_fs=$(command -v s3s-fs || true)
fi
if [ -z "$s3s_fs" ]; then
  cargo install s3s-fs --version 0.14.1 --locked --features binary --root "$root/target/tools"
  s3s_fs=$root/target/tools/bin/s3s-fs
fi

work=$(mktemp -d)
pid=
s3_pid=
cdn_pid=
cleanup() {
  for p in "$pid" "$s3_pid" "$cdn_pid"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# The S3 server of the helpers, and a CDN (a plain HTTP server) over the same bucket folder.
s3_port=$(free_port)
cdn_port=$(free_port)
s3_ak="SDKS3$(python3 -c 'import secrets; print(secrets.token_hex(6).upper())')"
s3_sk="SDK-S3-SECRET-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
mkdir -p "$work/s3/sdk-bucket"
"$s3s_fs" --host 127.0.0.1 --port "$s3_port" --access-key "$s3_ak" --secret-key "$s3_sk" "$work/s3" \
  > "$work/s3s-fs.log" 2>&1 &
s3_pid=$!
python3 -m http.server --bind 127.0.0.1 --directory "$work/s3/sdk-bucket" "$cdn_port" \
  > "$work/cdn.log" 2>&1 &
cdn_pid=$!
wait_port "$s3_port"
wait_port "$cdn_port"
put() { # put KEY CONTENT-TYPE TEXT
  printf '%b' "$3" | curl -fsS -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$s3_ak:$s3_sk" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -H "Content-Type: $2" --data-binary @- "http://127.0.0.1:$s3_port/sdk-bucket/$1" > /dev/null
}
put "photos/a.jpg" image/jpeg "aaa"
put "photos/b.jpg" image/jpeg "bbbbb"
put "photos/2024/c.jpg" image/jpeg "ccccccc"
put "lists/good.txt" text/plain "http://example.com/a.jpg\tphotos/a.jpg\n"
put "lists/bad.txt" text/plain "http://example.com/a.jpg\tphotos/a.jpg\nnot a url line\n"

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
# The CDN of the helpers' test runs on 127.0.0.1.
allow_private_networks = true
[auth]
bootstrap_file = "$work/data/bootstrap.toml"
# The SDK drives the API through waiting, paused and resumed states; no store exists here, and
# a worker would claim the work at once (it is woken when work arrives).
[worker]
enabled = false
[[endpoints]]
cloud_type = "AWS"
region = "sdk-1"
url = "http://127.0.0.1:$s3_port"
[[endpoints]]
cloud_type = "HEC"
region = "sdk-1"
url = "http://127.0.0.1:$s3_port"
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
OMS_ENDPOINT="http://127.0.0.1:$port" OMS_PROJECT_ID="$project" OMS_AK="$ak" OMS_SK="$sk" \
  OMS_S3_AK="$s3_ak" OMS_S3_SK="$s3_sk" OMS_S3_REGION=sdk-1 OMS_CDN_DOMAIN="localhost:$cdn_port" \
  "$venv/bin/python" "$root/tests/sdk/sdk_catalogue.py" || status=$?
if grep -q -e "$sk" -e "$s3_sk" -e "SDK-SRC-SECRET" -e "SDK-DST-SECRET" "$work/omsd.log"; then
  echo "omsd's log shows a secret" >&2
  status=1
fi
[ "$status" -eq 0 ] || { echo "--- omsd log ---" >&2; tail -n 50 "$work/omsd.log" >&2; }

# Sync tasks (tests/sdk/sdk_sync.py) copy for real: a second omsd, with its worker, between two
# buckets of an s3s-fs server (OMS_S3S_FS, or installed into target/tools as the compose test
# does), on the same database.
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
sync_s3_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sync_s3_ak="SDKS3$(python3 -c 'import secrets; print(secrets.token_hex(6).upper())')"
sync_s3_sk=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
mkdir -p "$work/s3"
"$s3s_fs" --host 127.0.0.1 --port "$sync_s3_port" --access-key "$sync_s3_ak" --secret-key "$sync_s3_sk" "$work/s3" \
  > "$work/s3s.log" 2>&1 &
sync_s3_pid=$!
trap 'kill "$sync_s3_pid" 2>/dev/null; cleanup' EXIT   # (cleanup stops the helpers' servers)
# Answering before the script's first request (on a loaded machine it may still be starting).
wait_port "$sync_s3_port" || { cat "$work/s3s.log" >&2; exit 1; }
sed -e "s|^enabled = false|enabled = true|" "$work/oms.toml" > "$work/sync.toml"
cat >> "$work/sync.toml" <<TOML
[[endpoints]]
cloud_type = "AWS"
region = "sdk-src"
url = "http://127.0.0.1:$sync_s3_port"
path_style = true
[[endpoints]]
cloud_type = "HEC"
region = "sdk-dst"
url = "http://127.0.0.1:$sync_s3_port"
path_style = true
TOML
start_omsd "$work/sync.toml" "$work/omsd-sync.log"
OMS_ENDPOINT="http://127.0.0.1:$port" OMS_PROJECT_ID="$project" OMS_AK="$ak" OMS_SK="$sk" \
  OMS_S3_URL="http://127.0.0.1:$sync_s3_port" OMS_S3_AK="$sync_s3_ak" OMS_S3_SK="$sync_s3_sk" \
  OMS_SRC_REGION=sdk-src OMS_DST_REGION=sdk-dst \
  "$venv/bin/python" "$root/tests/sdk/sdk_sync.py" || status=$?
if grep -q -e "$sk" -e "$sync_s3_sk" "$work/omsd-sync.log"; then
  echo "omsd's log shows a secret" >&2
  status=1
fi
[ "$status" -eq 0 ] || { echo "--- omsd log ---" >&2; tail -n 50 "$work/omsd-sync.log" >&2; }
exit "$status"
