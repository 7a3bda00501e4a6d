#!/usr/bin/env bash
# The web console in a real browser: Debian's chromium driven by playwright-core (installed into
# target/console-node), against omsd (target/debug/omsd, or OMSD) with its worker and two s3s-fs
# servers (OMS_S3S_FS, else target/tools/bin/s3s-fs, else on PATH, else installed there).
# tests/console/console.mjs signs in, creates a task and a task group in the form, pauses and
# resumes the group typing the keys, retries a failed task, signs in with a token; screenshots go
# to target/console-screenshots/. Then omsd's log must hold none of the keys typed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
omsd=${OMSD:-$root/target/debug/omsd}
chromium=${OMS_CHROMIUM:-/usr/bin/chromium}
node_dir=$root/target/console-node
playwright_version=1.65.2
shots=$root/target/console-screenshots

[ -x "$omsd" ] || cargo build --locked -p omsd --manifest-path "$root/Cargo.toml"
if [ ! -x "$chromium" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi
if [ ! -f "$node_dir/node_modules/playwright-core/package.json" ] \
   || ! grep -q "\"version\": \"$playwright_version\"" "$node_dir/node_modules/playwright-core/package.json"; then
  mkdir -p "$node_dir"
  npm install --silent --no-audit --no-fund --prefix "$node_dir" "playwright-core@$playwright_version" > /dev/null
fi
s3s_fs=${OMS_S3S_FS:-$root/target/tools/bin/s3s-fs}
[ -x "$s3s_fs" ] || s3s_fs=$(command -v s3s-fs || true)
if [ -z "$s3s_fs" ]; then
  cargo install s3s-fs --version 0.14.1 --locked --features binary --root "$root/target/tools"
  s3s_fs=$root/target/tools/bin/s3s-fs
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
random() { python3 -c "import secrets; print(secrets.token_hex($1))"; }

# The stores: a bucket "media" with three folders, and an empty "backup". A file named
# backup/broken/clash makes the destination refuse broken/clash/obj.bin (a folder of that
# name cannot be made) until the test removes it.
mkdir -p "$work/src/media/photos" "$work/src/media/big" "$work/src/media/broken/clash" "$work/dst/backup/broken"
for i in $(seq -w 1 12); do head -c 204800 /dev/urandom > "$work/src/media/photos/img-$i.jpg"; done
for i in $(seq -w 1 24); do head -c 524288 /dev/urandom > "$work/src/media/big/part-$i.bin"; done
head -c 1000 /dev/urandom > "$work/src/media/broken/clash/obj.bin"
head -c 1000 /dev/urandom > "$work/src/media/broken/fine.bin"
echo "in the way" > "$work/dst/backup/broken/clash"
src_port=$(free_port)
dst_port=$(free_port)
src_ak="SRC$(random 6 | tr a-f A-F)"
src_sk="src-secret-$(random 12)"
dst_ak="DST$(random 6 | tr a-f A-F)"
dst_sk="dst-secret-$(random 12)"
"$s3s_fs" --host 127.0.0.1 --port "$src_port" --access-key "$src_ak" --secret-key "$src_sk" "$work/src" > "$work/src.log" 2>&1 &
pids+=($!)
"$s3s_fs" --host 127.0.0.1 --port "$dst_port" --access-key "$dst_ak" --secret-key "$dst_sk" "$work/dst" > "$work/dst.log" 2>&1 &
pids+=($!)

port=$(free_port)
project=$(random 16)
user=console-user
password="pw-$(random 12)"
hash=$(printf '%s' "$password" | "$omsd" hash-password)
mkdir -p "$work/run"
cat > "$work/run/oms.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[database]
url = "sqlite://$work/run/data/oms.db"
[security]
master_key_file = "$work/run/data/master.key"
[auth]
bootstrap_file = "$work/run/data/bootstrap.toml"
[[auth.users]]
name = "$user"
password_hash = "$hash"
project_id = "$project"
[[endpoints]]
cloud_type = "AWS"
region = "local-src"
url = "http://127.0.0.1:$src_port"
[[endpoints]]
cloud_type = "HEC"
region = "local-dst"
url = "http://127.0.0.1:$dst_port"
TOML
(cd "$work/run" && exec "$omsd" --config oms.toml > "$work/omsd.log" 2>&1) &
pids+=($!)
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/readyz" > /dev/null || { cat "$work/omsd.log"; exit 1; }
token=$(cd "$work/run" && "$omsd" --config oms.toml token --user "$user")

rm -rf "$shots" && mkdir -p "$shots" "$work/profile"
# Beside its node_modules, where an ES module's imports are found.
cp "$root/tests/console/console.mjs" "$node_dir/console.mjs"
status=0
OMS_URL="http://127.0.0.1:$port" OMS_SHOTS="$shots" OMS_WORK="$work" \
  OMS_BROWSER_PROFILE="$work/profile" OMS_CHROMIUM="$chromium" OMS_USER="$user" OMS_PASSWORD="$password" \
  OMS_TOKEN="$token" OMS_SRC_AK="$src_ak" OMS_SRC_SK="$src_sk" OMS_DST_AK="$dst_ak" OMS_DST_SK="$dst_sk" \
  node "$node_dir/console.mjs" || status=$?
if grep -q -e "$src_sk" -e "$dst_sk" -e "$password" "$work/omsd.log"; then
  echo "omsd's log shows a key or the password" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "--- omsd log (last 40 lines) ---" >&2
  tail -n 40 "$work/omsd.log" >&2
fi
exit "$status"
