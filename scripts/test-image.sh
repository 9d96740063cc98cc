#!/usr/bin/env bash
# Builds the Dockerfile with podman and checks the image as it would be deployed (README "Deploy"):
# run by .ci/run after the Node tests, or on its own as root: `bash scripts/test-image.sh`.
#
# - installs podman, runc, mmdebstrap, podman-compose and docker-compose (v1, for its schema check)
#   when missing, and runs podman with the settings this kind of VM needs (runc, nofile 20000);
# - builds a local stand-in of node:24-bookworm-slim once (scripts/build-base-image.sh), since no
#   image registry is reachable here, and keeps it; then builds the real Dockerfile unchanged;
# - against the machine's PostgreSQL (127.0.0.1:5432, user postgres, trust) and Redis, with
#   --network=host: readiness, a schedule that fires every second and whose sessions are answered
#   by the example agent runtime run from the same image, the image's HEALTHCHECK, a non-root
#   process, SIGTERM ending it with 0 within 10 s; SQLite's data surviving a new container on the
#   same volume; the migrate command as a deploy step and a service started with migrating off;
# - compose.yaml: docker-compose's schema check and its refusal without .env; then, with the .env
#   README "Deploy" writes and stand-ins of the postgres and redis images built from Debian's
#   packages (scripts/build-compose-stand-ins.sh), `podman-compose up`: the migrate step, the
#   service ready on its published port, a schedule fired and answered by the runtime container.
#
# Containers, volumes and databases it makes are removed on exit; the stand-in images and the
# build cache are kept, so a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=localhost/schedule-service:test
DEPENDENCIES_IMAGE=localhost/schedule-service:build-cache
BASE_IMAGE=docker.io/library/node:24-bookworm-slim
PG_ADMIN="psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt"
PG_URL=postgres://postgres@127.0.0.1:5432
TAG="imagetest$$"   # names this run's containers, volumes and databases
LABEL=schedule-service.image-test
SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
TOKEN="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
started=$SECONDS

step() { echo "== $* [$((SECONDS - started)) s]"; }
fail() {
  echo "test-image: FAILED: $1" >&2
  if [ -n "${2:-}" ]; then
    echo "--- last lines of container $2:" >&2
    podman logs --tail 40 "$2" >&2 || true
  fi
  exit 1
}

# --- tools and podman's settings ---------------------------------------------------------------
missing=()
for tool in podman runc mmdebstrap podman-compose docker-compose; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for tool in podman runc mmdebstrap podman-compose docker-compose psql curl openssl node; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
pg_isready -q -h 127.0.0.1 -p 5432 || fail "PostgreSQL is not answering on 127.0.0.1:5432"

# crun refuses this VM's hybrid cgroups, and RLIMIT_NOFILE cannot be raised to podman's default.
work="$(mktemp -d /var/tmp/schedule-service-image-test.XXXXXX)"
cat >"$work/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$work/containers.conf"
# Without systemd, podman says on every run and stop that it cannot time health checks; kept here.
PODMAN_ERRORS="$work/podman-errors.log"

composed=false
cleanup() {
  local code=$?
  set +e
  if [ "$composed" = true ]; then
    podman ps -aq --filter "label=io.podman.compose.project=$TAG" | xargs -r podman rm -f -v -t 0 >/dev/null 2>&1
    (cd "$work/compose" && podman-compose -p "$TAG" down -v >/dev/null 2>&1)
  fi
  podman untag localhost/schedule-service:local localhost/schedule-service:local >/dev/null 2>&1
  # -v: with them the anonymous volumes the image's VOLUME gave each.
  podman ps -aq --filter "label=$LABEL=$TAG" | xargs -r podman rm -f -v -t 0 >/dev/null 2>&1
  podman volume ls -q --filter "label=$LABEL=$TAG" | xargs -r podman volume rm -f >/dev/null 2>&1
  # What podman-compose made, were its down not reached: the project's network and volume.
  podman network rm -f "${TAG}_default" >/dev/null 2>&1
  podman volume rm -f "${TAG}_postgres-data" >/dev/null 2>&1
  for db in $($PG_ADMIN -c "SELECT datname FROM pg_database WHERE datname LIKE '${TAG}\_%'"); do
    $PG_ADMIN -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  done
  # The images earlier builds left untagged; the dependency stage stays tagged, as the cache.
  podman image prune -f >/dev/null 2>&1
  rm -rf "$work"
  if [ $code -eq 0 ]; then echo "== image checks passed in $((SECONDS - started)) s"; else echo "== image checks FAILED after $((SECONDS - started)) s" >&2; fi
}
trap cleanup EXIT

# Leftovers of a run that was killed before its own clean-up.
podman ps -aq --filter "label=$LABEL" | xargs -r podman rm -f -v -t 0 >/dev/null 2>&1 || true
podman volume ls -q --filter "label=$LABEL" | xargs -r podman volume rm -f >/dev/null 2>&1 || true
for db in $($PG_ADMIN -c "SELECT datname FROM pg_database WHERE datname LIKE 'imagetest%'"); do
  $PG_ADMIN -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
done
podman ps -a --format '{{.Names}}' | grep -E '^imagetest[0-9]+_' | xargs -r podman rm -f -v -t 0 >/dev/null 2>&1 || true
podman network ls --format '{{.Name}}' | grep -E '^imagetest[0-9]+_default$' | xargs -r podman network rm -f >/dev/null 2>&1 || true
podman volume ls --format '{{.Name}}' | grep -E '^imagetest[0-9]+_postgres-data$' | xargs -r podman volume rm -f >/dev/null 2>&1 || true

# --- images -------------------------------------------------------------------------------------
if podman image exists "$BASE_IMAGE"; then
  step "$BASE_IMAGE: cached"
else
  step "$BASE_IMAGE: not cached; building the stand-in"
  base_started=$SECONDS
  bash scripts/build-base-image.sh
  step "$BASE_IMAGE: built in $((SECONDS - base_started)) s"
fi

step "podman build (the Dockerfile as it is)"
build_started=$SECONDS
# --format docker: the OCI format has no HEALTHCHECK. The npm_ca secret lets npm through this
# machine's TLS-intercepting proxy.
secret=()
[ -f /etc/ssl/certs/ca-certificates.crt ] && secret=(--secret id=npm_ca,src=/etc/ssl/certs/ca-certificates.crt)
# The dependency stage (npm ci and sqlite3's compile, the slow part) is tagged, so that it stays
# as the cache of the next build when the clean-up prunes what is untagged.
build() {
  podman build --pull=never --format docker "${secret[@]}" "$@" . >>"$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log" >&2; fail "podman build $* failed (the log's end is above)"; }
}
build --target dependencies -t "$DEPENDENCIES_IMAGE"
build -t "$IMAGE"
image_mb=$(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%d", $1 / 1e6}')
base_mb=$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%d", $1 / 1e6}')
step "built in $((SECONDS - build_started)) s: $IMAGE is $image_mb MB (the base, $base_mb MB)"

# --- helpers ------------------------------------------------------------------------------------
free_port() { node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })"; }

# create_database NAME: prints its URL (called in $(…), a subshell: the clean-up finds it by TAG).
create_database() {
  local name="${TAG}_$1"
  $PG_ADMIN -c "CREATE DATABASE $name" >/dev/null
  echo "$PG_URL/$name"
}

# run NAME PORT [podman run options…] -- [command…]: the image on the host's network, detached.
run() {
  local name="$TAG-$1" port="$2"
  shift 2
  local options=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do options+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  podman run -d --name "$name" --label "$LABEL=$TAG" --network=host -e HOST=127.0.0.1 -e PORT="$port" "${options[@]}" "$IMAGE" "$@" \
    >/dev/null 2>>"$PODMAN_ERRORS" || fail "podman run $name failed: $(tail -3 "$PODMAN_ERRORS")"
}

status_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" || true; }

# wait_status URL STATUS SECONDS CONTAINER
wait_status() {
  local deadline=$((SECONDS + $3)) got
  while got=$(status_of "$1"); [ "$got" != "$2" ]; do
    [ $SECONDS -lt $deadline ] || fail "GET $1 answered $got, not $2, within $3 s" "$4"
    sleep 0.5
  done
}

# api PORT METHOD PATH [BODY]: the body of a request as user image-test, failing on a 4xx or 5xx.
api() {
  local args=(-sS --fail-with-body --max-time 10 -X "$2" -H 'x-user-id: image-test' "http://127.0.0.1:$1$3")
  [ $# -ge 4 ] && args+=(-H 'content-type: application/json' -d "$4")
  curl "${args[@]}"
}

# json EXPRESSION: evaluates EXPRESSION on the JSON read from stdin (as `it`), prints the result.
json() { node -e "let s = ''; process.stdin.on('data', (c) => (s += c)).on('end', () => { const it = JSON.parse(s); console.log($1); })"; }

schedule_body() {
  printf '{"name": "%s", "description": "Water the plants.", "cron_expression": "%s", "agent_id": "agent-1", "chat_model_config": {"type": "openai", "credential_id": "c", "model": "gpt-4o"}}' "$1" "$2"
}

# wait_answered PORT SCHEDULE CONTAINER: within 30 s, a session of the schedule holds the example
# runtime's answer to the task schedule_body gives.
wait_answered() {
  local deadline=$((SECONDS + 30))
  until api "$1" GET "/schedule/$2/sessions" | json "it.sessions.some((s) => JSON.stringify(s.state).includes('Done: Water the plants.'))" | grep -q true; do
    [ $SECONDS -lt $deadline ] || fail "no session of schedule $2 was answered by the runtime within 30 s: $(api "$1" GET "/schedule/$2/runs" | head -c 600)" "$3"
    sleep 1
  done
}

# stop_within CONTAINER SECONDS: SIGTERM (podman stop), and it must exit 0 before SIGKILL would come.
stop_within() {
  local before=$SECONDS
  podman stop -t "$2" "$1" >/dev/null 2>>"$PODMAN_ERRORS"
  local took=$((SECONDS - before)) code
  code=$(podman inspect --format '{{.State.ExitCode}}' "$1")
  [ "$code" = 0 ] || fail "$1 exited $code on SIGTERM, not 0" "$1"
  [ "$took" -lt "$2" ] || fail "$1 took $took s to stop on SIGTERM" "$1"
  echo "   SIGTERM: exit 0 after ${took} s"
}

# --- PostgreSQL, with the example runtime from the same image -----------------------------------
step "PostgreSQL: the service, Redis and the example agent runtime"
port=$(free_port)
runtime_port=$(free_port)
url=$(create_database pg)
run runtime "$runtime_port" --init -e SERVICE_URL="http://127.0.0.1:$port" -e DISPATCH_SECRET="$SECRET" -e RUNTIME_TOKEN="$TOKEN" \
  -- node examples/agent-runtime.mjs
run pg "$port" -e STORAGE_DRIVER=postgres -e DATABASE_URL="$url" -e REDIS_URL=redis://127.0.0.1:6379 \
  -e DISPATCH_URL="http://127.0.0.1:$runtime_port/hook" -e DISPATCH_SECRET="$SECRET" -e RUNTIME_TOKEN="$TOKEN"
wait_status "http://127.0.0.1:$port/health/ready" 200 60 "$TAG-pg"
echo "   /health/ready: 200"
uid=$(podman exec "$TAG-pg" id -u)
[ "$uid" != 0 ] || fail "the service runs as root"
echo "   the process runs as uid $uid ($(podman exec "$TAG-pg" id -un))"
podman healthcheck run "$TAG-pg" >/dev/null || fail "the image's HEALTHCHECK fails on a live service" "$TAG-pg"
echo "   HEALTHCHECK: healthy"
console_page=$(curl -s --max-time 5 "http://127.0.0.1:$port/console/")
script=$(printf '%s' "$console_page" | grep -o '/console/assets/[A-Za-z0-9_-]*\.js' | head -1)
[ -n "$script" ] && [ "$(status_of "http://127.0.0.1:$port$script")" = 200 ] || fail "the image serves no console at /console/" "$TAG-pg"
echo "   /console/: the console's page and its script ($script)"

id=$(api "$port" POST /schedule "$(schedule_body 'Every second' '* * * * * *')" | json it.schedule_id)
wait_answered "$port" "$id" "$TAG-pg"
sessions=$(api "$port" GET "/schedule/$id/sessions" | json it.total)
succeeded=$(api "$port" GET "/schedule/$id/runs" | json "it.runs.filter((r) => r.status === 'succeeded').length")
echo "   schedule $id fired: $sessions session(s) listed, $succeeded run(s) succeeded through the runtime container"
stop_within "$TAG-pg" 10
before=$SECONDS
podman stop -t 5 "$TAG-runtime" >/dev/null 2>>"$PODMAN_ERRORS"
[ $((SECONDS - before)) -lt 5 ] || fail "the runtime container (with an init, as in compose.yaml) ignored SIGTERM" "$TAG-runtime"

# --- SQLite on a named volume -------------------------------------------------------------------
step "SQLite (the default) on a named volume, across two containers"
podman volume create --label "$LABEL=$TAG" "$TAG-data" >/dev/null
port=$(free_port)
run sqlite-1 "$port" -v "$TAG-data:/app/data"
wait_status "http://127.0.0.1:$port/health/ready" 200 60 "$TAG-sqlite-1"
id=$(api "$port" POST /schedule "$(schedule_body 'Kept on the volume' '0 9 * * 1-5')" | json it.schedule_id)
stop_within "$TAG-sqlite-1" 10
podman rm "$TAG-sqlite-1" >/dev/null 2>>"$PODMAN_ERRORS"
run sqlite-2 "$port" -v "$TAG-data:/app/data"
wait_status "http://127.0.0.1:$port/health/ready" 200 60 "$TAG-sqlite-2"
name=$(api "$port" GET "/schedule/$id" | json it.data.name)
[ "$name" = "Kept on the volume" ] || fail "schedule $id is not there after a new container on the same volume" "$TAG-sqlite-2"
echo "   schedule $id is still there in a new container; $(podman exec "$TAG-sqlite-2" ls -n /app/data | grep -c 'schedules.sqlite') SQLite file(s) on the volume, owner uid $(podman exec "$TAG-sqlite-2" stat -c %u /app/data/schedules.sqlite)"
stop_within "$TAG-sqlite-2" 10

# --- migrations as a deploy step ----------------------------------------------------------------
step "the migrate command, then the service with DATABASE_MIGRATE_ON_START=false"
empty=$(create_database empty)
port=$(free_port)
run unmigrated "$port" -e STORAGE_DRIVER=postgres -e DATABASE_URL="$empty" -e DATABASE_MIGRATE_ON_START=false
wait_status "http://127.0.0.1:$port/health/live" 200 60 "$TAG-unmigrated"
[ "$(status_of "http://127.0.0.1:$port/health/ready")" = 503 ] || fail "readiness is not 503 on an empty database with migrating off" "$TAG-unmigrated"
echo "   on an empty database: live 200, ready 503"
stop_within "$TAG-unmigrated" 10

url=$(create_database migrated)
podman run --rm --label "$LABEL=$TAG" --network=host -e STORAGE_DRIVER=postgres -e DATABASE_URL="$url" "$IMAGE" node dist/src/migrate.js >"$work/migrate.out" 2>&1 \
  || { cat "$work/migrate.out" >&2; fail "node dist/src/migrate.js failed in the image"; }
grep -q 'migration(s) applied' "$work/migrate.out" || { cat "$work/migrate.out" >&2; fail "the migrate command did not say what it applied"; }
echo "   migrate.js: $(tail -1 "$work/migrate.out")"
port=$(free_port)
run migrated "$port" -e STORAGE_DRIVER=postgres -e DATABASE_URL="$url" -e DATABASE_MIGRATE_ON_START=false
wait_status "http://127.0.0.1:$port/health/ready" 200 60 "$TAG-migrated"
echo "   on the migrated database: ready 200"
stop_within "$TAG-migrated" 10

# --- compose.yaml ---------------------------------------------------------------------------------
step "compose.yaml: its schema, and its refusal without .env"
mkdir "$work/compose"
cp compose.yaml "$work/compose/"
docker-compose -f "$work/compose/compose.yaml" config -q 2>"$work/compose.err" && fail "compose.yaml is accepted without .env"
grep -q 'create .env first' "$work/compose.err" || { cat "$work/compose.err" >&2; fail "compose.yaml without .env does not say to create it"; }
echo "   without .env: refused ($(head -c 120 "$work/compose.err")…)"
# The .env as README "Deploy" writes it: its command, run as it stands there.
awk '/^cat > \.env <<EOF$/,/^EOF$/' README.md >"$work/compose/write-env.sh"
[ -s "$work/compose/write-env.sh" ] || fail "README's Deploy section no longer shows how to write .env"
(cd "$work/compose" && bash write-env.sh)
docker-compose -f "$work/compose/compose.yaml" config -q || fail "docker-compose rejects compose.yaml with the README's .env"
echo "   docker-compose config: valid with the README's .env"

step "compose.yaml: podman-compose up, with stand-ins of the postgres and redis images"
bash scripts/build-compose-stand-ins.sh
# compose.yaml names the service's image schedule-service:local (and builds it where it is missing).
podman tag "$IMAGE" localhost/schedule-service:local
port=$(free_port)
echo "SCHEDULE_SERVICE_PORT=$port" >>"$work/compose/.env"
compose() { (cd "$work/compose" && podman-compose -p "$TAG" "$@"); }
compose up -d >"$work/compose/up.log" 2>&1 || { cat "$work/compose/up.log" >&2; fail "podman-compose up failed"; }
composed=true
wait_status "http://127.0.0.1:$port/health/ready" 200 120 "${TAG}_schedule-service_1"
echo "   /health/ready: 200 on the published port"
migrated=$(podman logs "${TAG}_migrate_1" 2>&1 | tail -1)
echo "   the migrate step: $migrated"
id=$(api "$port" POST /schedule "$(schedule_body 'Composed' '* * * * * *')" | json it.schedule_id)
wait_answered "$port" "$id" "${TAG}_schedule-service_1"
echo "   schedule $id fired; the agent-runtime container answered its session and reported the run"
# podman-compose's down -v removes the named volume, not the anonymous ones the image's VOLUME
# gave each container (docker compose's does): those are removed after it.
anonymous=$(podman ps -aq --filter "label=io.podman.compose.project=$TAG" \
  | xargs -r podman inspect --format '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}' | tr ' ' '\n' | grep -E '^[0-9a-f]{64}$' || true)
compose down -v >"$work/compose/down.log" 2>&1 || { cat "$work/compose/down.log" >&2; fail "podman-compose down failed"; }
[ -z "$anonymous" ] || echo "$anonymous" | xargs podman volume rm -f >/dev/null
composed=false
echo "   podman-compose down -v: stopped and removed"

step "image $IMAGE: $image_mb MB (base $base_mb MB)"
