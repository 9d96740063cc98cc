#!/usr/bin/env bash
# Builds local stand-ins of the two images compose.yaml runs beside the service,
# docker.io/library/postgres:15-bookworm and docker.io/library/redis:7-bookworm, for machines that
# reach no image registry (scripts/test-image.sh calls it to run `podman-compose up`). Each is
# Debian bookworm's own package of the same major version (postgresql-15, redis-server 7.0) on the
# debian:bookworm-slim stand-in of scripts/build-base-image.sh, with an entrypoint that does what
# the official one does for compose.yaml: PostgreSQL's first start creates POSTGRES_USER (with
# POSTGRES_PASSWORD, password authentication over the network) and POSTGRES_DB; Redis listens
# beyond loopback without protected mode.
#
# Needs root and podman, and the debian:bookworm-slim stand-in. Each image it makes is reused
# when it exists already.
set -euo pipefail

DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
POSTGRES_IMAGE=docker.io/library/postgres:15-bookworm
REDIS_IMAGE=docker.io/library/redis:7-bookworm

fail() { echo "build-compose-stand-ins: $*" >&2; exit 1; }
podman image exists "$DEBIAN_IMAGE" || fail "$DEBIAN_IMAGE is missing (scripts/build-base-image.sh builds it)"

work="$(mktemp -d /var/tmp/compose-stand-ins.XXXXXX)"
trap 'rm -rf "$work"' EXIT

if podman image exists "$POSTGRES_IMAGE"; then
  echo "== $POSTGRES_IMAGE: already built"
else
  echo "== $POSTGRES_IMAGE: Debian's postgresql-15"
  mkdir "$work/postgres"
  cat >"$work/postgres/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# The first start creates the cluster as the official image does for POSTGRES_USER,
# POSTGRES_PASSWORD and POSTGRES_DB; every start serves on all interfaces.
set -e
if [ "$1" = postgres ]; then
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"
    password_file="$(mktemp)"
    printf '%s' "$POSTGRES_PASSWORD" >"$password_file"
    initdb -D "$PGDATA" -U "$user" --pwfile="$password_file" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$password_file"
    echo 'host all all all scram-sha-256' >>"$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
      pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
      psql -v ON_ERROR_STOP=1 -U "$user" -d postgres -qc "CREATE DATABASE \"$db\""
      pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
  fi
  shift
  set -- postgres -c listen_addresses='*' "$@"
fi
exec "$@"
EOF
  cat >"$work/postgres/Containerfile" <<EOF
FROM $DEBIAN_IMAGE
# Debian's package would create a cluster of its own; the entrypoint creates the one in PGDATA.
RUN mkdir -p /etc/postgresql-common/createcluster.d \\
  && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/no-main-cluster.conf \\
  && apt-get update && apt-get install -y --no-install-recommends postgresql-15 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:\$PATH PGDATA=/var/lib/postgresql/data
RUN mkdir -p "\$PGDATA" && chown postgres:postgres "\$PGDATA" && chmod 700 "\$PGDATA"
COPY --chmod=755 docker-entrypoint.sh /usr/local/bin/
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
LABEL org.opencontainers.image.description="Local stand-in of $POSTGRES_IMAGE (Debian's postgresql-15), built by scripts/build-compose-stand-ins.sh"
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
EOF
  podman build --pull=never --format docker --quiet -t "$POSTGRES_IMAGE" "$work/postgres" >/dev/null || fail "podman build of $POSTGRES_IMAGE failed"
fi

if podman image exists "$REDIS_IMAGE"; then
  echo "== $REDIS_IMAGE: already built"
else
  echo "== $REDIS_IMAGE: Debian's redis-server"
  mkdir "$work/redis"
  cat >"$work/redis/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# As the official image: started without a config file, Redis serves beyond loopback.
set -e
if [ "$1" = redis-server ]; then
  shift
  set -- redis-server --protected-mode no "$@"
fi
exec "$@"
EOF
  cat >"$work/redis/Containerfile" <<EOF
FROM $DEBIAN_IMAGE
RUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/* \\
  && mkdir /data && chown redis:redis /data
COPY --chmod=755 docker-entrypoint.sh /usr/local/bin/
USER redis
WORKDIR /data
VOLUME /data
EXPOSE 6379
LABEL org.opencontainers.image.description="Local stand-in of $REDIS_IMAGE (Debian's redis-server), built by scripts/build-compose-stand-ins.sh"
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
EOF
  podman build --pull=never --format docker --quiet -t "$REDIS_IMAGE" "$work/redis" >/dev/null || fail "podman build of $REDIS_IMAGE failed"
fi
