#!/usr/bin/env bash
# The demo stack of docker-compose.yml, with Docker Compose or podman-compose alike, failing
# loudly: an image that cannot be pulled or built, a service that does not start or one that
# exits ends the command with a non-zero status and a message naming the service.
#
# Usage (from anywhere; the stack's files are found beside this script):
#   deploy/stack.sh init        write .env beside docker-compose.yml with fresh random secrets
#                               (mode 0600; an existing .env is left alone)
#   deploy/stack.sh up          start the stack and wait until every service runs, the API
#                               answers and the demo has created its task group
#   deploy/stack.sh check [S..] fail, showing its log, if a service (or one of S..) has stopped
#   deploy/stack.sh token       print a token for the API's X-Auth-Token (from the api container)
#   deploy/stack.sh logs S      the log of service S (`logs demo`: the group and how to follow it)
#   deploy/stack.sh down [-v]   stop and remove the stack (-v: and its volumes)
#   deploy/stack.sh ...         anything else is handed to the compose tool as it is
#
# Settings, from the environment:
#   OMS_COMPOSE          "docker compose" or "podman-compose"; by default Docker Compose when a
#                        Docker daemon answers, else podman-compose
#   OMS_COMPOSE_PROJECT  the project name (default oms, as docker-compose.yml names it)
#   OMS_COMPOSE_FILE     the compose file (default: docker-compose.yml of this repository); its
#                        .env is the one beside it
#   OMS_STACK_TIMEOUT_SECS  how long `up` waits for the stack (default 300)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FILE=${OMS_COMPOSE_FILE:-$ROOT/docker-compose.yml}
DIR=$(cd "$(dirname "$FILE")" && pwd)
PROJECT=${OMS_COMPOSE_PROJECT:-oms}
TIMEOUT_SECS=${OMS_STACK_TIMEOUT_SECS:-300}

fail() { printf 'deploy/stack.sh: %s\n' "$*" >&2; exit 1; }

if [ -n "${OMS_COMPOSE:-}" ]; then
  read -r -a TOOL <<< "$OMS_COMPOSE"
elif command -v docker > /dev/null && docker info > /dev/null 2>&1 && docker compose version > /dev/null 2>&1; then
  TOOL=(docker compose)
elif command -v podman-compose > /dev/null; then
  TOOL=(podman-compose)
else
  fail "neither Docker Compose (with a running Docker daemon) nor podman-compose was found; install one (Debian: apt-get install podman podman-compose)"
fi
case "${TOOL[0]}" in
  docker) ENGINE=docker ;;
  podman-compose) ENGINE=podman ;;
  *) fail "OMS_COMPOSE must be \"docker compose\" or \"podman-compose\", not \"$OMS_COMPOSE\"" ;;
esac

compose() { "${TOOL[@]}" -p "$PROJECT" -f "$FILE" "$@"; }

# The container of service $1, as each tool names it.
container() {
  if [ "$ENGINE" = docker ]; then echo "$PROJECT-$1-1"; else echo "${PROJECT}_$1_1"; fi
}

# The services of the compose file (the keys under `services:`).
services() {
  awk '/^services:/ { inside = 1; next }
       /^[^ #]/ { inside = 0 }
       inside && /^  [A-Za-z0-9_.-]+:/ { sub(/^  /, ""); sub(/:.*/, ""); print }' "$FILE"
}

# The state of a container ("running", "exited 1", ...), or "missing".
state() {
  local name=$1 status code
  status=$("$ENGINE" container inspect --format '{{.State.Status}}' "$name" 2> /dev/null) || { echo missing; return; }
  if [ "$status" = exited ]; then
    code=$("$ENGINE" container inspect --format '{{.State.ExitCode}}' "$name")
    echo "exited $code"
  else
    echo "$status"
  fi
}

# Fails, with the service's log, unless every service named (default: all) runs; the one-shot
# demo may also have ended well.
check() {
  local service name now list=("$@")
  [ "${#list[@]}" -gt 0 ] || mapfile -t list < <(services)
  for service in "${list[@]}"; do
    name=$(container "$service")
    now=$(state "$name")
    case "$service:$now" in
      *:running|*:created|*:configured|demo:"exited 0") ;;
      *:missing)
        fail "service $service has no container ($name): its image could not be pulled or built, or the container could not be created (see the compose tool's output above)" ;;
      *)
        echo "--- the log of $service ($name), last 40 lines:" >&2
        "$ENGINE" logs --tail 40 "$name" >&2 2>&1 || true
        fail "service $service is $now" ;;
    esac
  done
}

# The secrets compose needs must be set, and not to the placeholders of .env.example.
check_secrets() {
  if [ -f "$DIR/.env" ]; then
    if grep -qiE '^[A-Z_]+=.*change-?me' "$DIR/.env"; then
      fail "$DIR/.env still holds the placeholders of .env.example ($(grep -iE '^[A-Z_]+=.*change-?me' "$DIR/.env" | cut -d= -f1 | paste -sd, -)); set every one, or remove .env and run: deploy/stack.sh init"
    fi
  elif [ -z "${OMS_MASTER_KEY:-}" ]; then
    fail "no $DIR/.env and no OMS_MASTER_KEY in the environment: run deploy/stack.sh init first"
  fi
}

random_hex() { od -An -tx1 -N "$1" /dev/urandom | tr -d ' \n'; }

init() {
  [ -e "$DIR/.env" ] && { echo "$DIR/.env exists; it is left as it is"; return 0; }
  (
    umask 077
    cat > "$DIR/.env" <<EOF
# Made by deploy/stack.sh init: the secrets of this demo stack. Never commit this file.
OMS_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
OMS_DB_PASSWORD=$(random_hex 20)
OMS_PROJECT_ID=$(random_hex 16)
OMS_ACCESS_KEY=$(random_hex 10 | tr a-f A-F)
OMS_SECRET_KEY=$(random_hex 20)
OMS_DEMO_SOURCE_SK=$(random_hex 20)
OMS_DEMO_DESTINATION_SK=$(random_hex 20)
EOF
  )
  echo "wrote $DIR/.env (mode 0600) with fresh secrets"
}

up() {
  check_secrets
  # Docker Compose stops with a non-zero status when it cannot pull or build; podman-compose
  # 1.0 goes on and exits 0, so what counts is whether each service then has a container.
  if [ "$ENGINE" = docker ]; then
    compose up -d || fail "docker compose could not start the stack (its output above says why)"
    check
  else
    # podman-compose prints every podman command it runs, with the containers' environment in
    # it (the master key, the database password): that stays out of the terminal; what podman
    # itself said is shown when a service did not start.
    local log status=0
    log=$(mktemp)
    compose up -d > "$log" 2>&1 || status=$?
    if [ "$status" -ne 0 ] || ! (check) 2> "$log.check"; then
      grep -v -E '^(podman |\[.podman.,|exit code: |[0-9a-f]{64}$|Error: inspecting object: no such volume)' "$log" >&2 || true
      cat "$log.check" >&2 2> /dev/null || true
      rm -f "$log" "$log.check"
      fail "podman-compose could not start the stack (exit status $status; what podman said is above)"
    fi
    rm -f "$log" "$log.check"
  fi
  local waited=0
  until curl -fs http://127.0.0.1:8080/readyz > /dev/null \
      && [ "$(state "$(container demo)")" = "exited 0" ]; do
    check
    [ "$waited" -lt "$TIMEOUT_SECS" ] || fail "the stack did not get ready in ${TIMEOUT_SECS}s (the API at http://127.0.0.1:8080/readyz, the demo's task group)"
    sleep 2
    waited=$((waited + 2))
  done
  echo "the stack is up; its task group, and how to follow it: deploy/stack.sh logs demo"
}

command=${1:-}
[ -n "$command" ] || { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
shift
case "$command" in
  init) init ;;
  up) up ;;
  check) check "$@" ;;
  token) "$ENGINE" exec "$(container api)" omsd --config /etc/oms/oms.toml token "$@" ;;
  logs)
    # podman-compose prints its own commands among the logs; podman itself does not.
    if [ "$ENGINE" = podman ]; then
      for service in "$@"; do podman logs "$(container "$service")"; done
    else
      compose logs --no-log-prefix "$@"
    fi ;;
  down)
    if [ "$ENGINE" = podman ]; then
      # podman-compose 1.0 leaves the containers' anonymous volumes (the image's VOLUME) and the
      # project's network behind: with -v the containers go first with their volumes, and the
      # network after them (this project's only, by its label and name).
      if [[ " $* " == *" -v "* || " $* " == *" --volumes "* ]]; then
        mapfile -t ids < <(podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT")
        [ "${#ids[@]}" -eq 0 ] || podman rm -f -v "${ids[@]}" > /dev/null
      fi
      compose down "$@"
      if podman network exists "${PROJECT}_default" 2> /dev/null; then
        podman network rm "${PROJECT}_default" > /dev/null
      fi
    else
      compose down "$@"
    fi ;;
  *) compose "$command" "$@" ;;
esac
