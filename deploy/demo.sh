#!/bin/sh
# The demo stack's one-shot service: seeds the source S3 server with random objects (writing
# into its bucket folder), creates the destination bucket, creates a task group through the
# API, and prints how to follow it (commands that work with Docker Compose and podman-compose
# alike: deploy/stack.sh finds the api container of either).
set -eu

API=http://api:8080/v2/$OMS_PROJECT_ID
objects=${OMS_DEMO_OBJECTS:-200}
bytes=${OMS_DEMO_OBJECT_BYTES:-262144}
bandwidth=${OMS_DEMO_BANDWIDTH:-0}

# s3s-fs keeps a bucket as a folder: the source bucket "photos" and the destination "backup".
mkdir -p /var/lib/oms/s3/photos /var/lib/oms/destination/backup
i=0
while [ "$i" -lt "$objects" ]; do
    name=$(printf 'photos/img-%05d.bin' "$i")
    [ -e "/var/lib/oms/s3/$name" ] || head -c "$bytes" /dev/urandom > "/var/lib/oms/s3/$name"
    i=$((i + 1))
done
echo "demo: the source holds $objects objects of $bytes bytes in bucket photos"

# The API may take a while on a first start (PostgreSQL initialises its data folder first), but
# not for ever: a demo that cannot reach it says so and fails.
waited=0
until curl -fsS http://api:8080/readyz > /dev/null 2>&1; do
    if [ "$waited" -ge 180 ]; then
        echo "demo: the API (http://api:8080/readyz) did not answer in 180 s; see the api service's log" >&2
        exit 1
    fi
    sleep 1
    waited=$((waited + 1))
done
TOKEN=$(omsd --config /etc/oms/oms.toml token --project-id "$OMS_PROJECT_ID")

policy='[]'
if [ "$bandwidth" -gt 0 ]; then
    policy="[{\"start\": \"00:00\", \"end\": \"23:59\", \"max_bandwidth\": $bandwidth},
             {\"start\": \"23:59\", \"end\": \"00:00\", \"max_bandwidth\": $bandwidth}]"
fi
answer=$(curl -fsS -X POST "$API/taskgroups" -H "X-Auth-Token: $TOKEN" \
    -H 'Content-Type: application/json' -d "{
  \"task_type\": \"PREFIX\",
  \"src_node\": {\"cloud_type\": \"AWS\", \"region\": \"demo-source\", \"ak\": \"$OMS_DEMO_SOURCE_AK\",
                 \"sk\": \"$OMS_DEMO_SOURCE_SK\", \"bucket\": \"photos\", \"object_key\": [\"\"]},
  \"dst_node\": {\"ak\": \"$OMS_DEMO_DESTINATION_AK\", \"sk\": \"$OMS_DEMO_DESTINATION_SK\",
                 \"region\": \"demo-destination\", \"bucket\": \"backup\"},
  \"bandwidth_policy\": $policy
}")
group=$(printf '%s' "$answer" | sed -n 's/.*"group_id":"\([^"]*\)".*/\1/p')
echo "demo: task group $group is migrating photos -> backup"
echo "demo: follow it from the host, in the repository (with Docker or podman alike):"
echo "  TOKEN=\$(deploy/stack.sh token)"
echo "  curl -fsS -H \"X-Auth-Token: \$TOKEN\" http://127.0.0.1:8080/v2/$OMS_PROJECT_ID/taskgroups/$group"
echo "demo-group-id: $group"
