#!/usr/bin/env bash
# Make sure a PostgreSQL answers on 127.0.0.1:5432 (user postgres, trust auth) and a
# Redis on 127.0.0.1:6379, and that PgBouncer is installed (the tests start their own).
# Running servers are used as they are; missing packages are installed from Debian; a
# stopped cluster is started, or a throwaway one is created.
set -euo pipefail

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
say() { echo "services: $*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    say "installing $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() {
    for _ in $(seq 1 100); do answers "$1" && return 0; sleep 0.1; done
    say "nothing answers on port $1"; return 1
}

ensure_postgres() {
    if answers 5432; then say "postgres answers on 5432"; return; fi
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_install postgresql
    local version
    version=$(ls /usr/lib/postgresql | sort -n | tail -1)
    if command -v pg_ctlcluster >/dev/null && [ -d "/etc/postgresql/$version/main" ]; then
        say "starting cluster $version/main"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    fi
    if ! answers 5432; then
        local dir=/tmp/kitgen-postgres bin="/usr/lib/postgresql/$version/bin"
        say "starting a throwaway postgres in $dir"
        as_root rm -rf "$dir"; as_root mkdir -p "$dir"; as_root chown postgres "$dir"
        as_root runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
        as_root runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
            -o "-p 5432 -c listen_addresses=127.0.0.1 -k $dir -c fsync=off" start >/dev/null
    fi
    wait_for 5432
    # Cluster authentication may not be trust for TCP: tests connect as postgres without a password.
    PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1" >/dev/null \
        || { say "postgres on 5432 refuses user postgres without a password"; return 1; }
}

ensure_redis() {
    # The Redis Cluster tests start their own nodes from redis-server and join them with
    # redis-cli (Debian's redis-tools, a dependency of redis-server).
    command -v redis-server >/dev/null || apt_install redis-server
    command -v redis-cli >/dev/null || apt_install redis-tools
    if answers 6379; then say "redis answers on 6379"; return; fi
    say "starting redis-server on 6379 (no persistence)"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /tmp --logfile /tmp/kitgen-redis.log
    wait_for 6379
}

ensure_pgbouncer() {
    # Not a service to keep running: the tests start their own in front of Postgres.
    if command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ]; then
        say "pgbouncer is installed"; return
    fi
    apt_install pgbouncer
}

ensure_postgres
ensure_redis
ensure_pgbouncer
