# Sourced by scripts/test: a throwaway PostgreSQL cluster for the tests.
#
# Installs the server if it is missing, starts a cluster in a private temporary
# directory on a free port (listening on 127.0.0.1 and its own socket directory only),
# records it in target/peers/postgres, and exports WORKVAULT_TEST_PG_URL. A cluster
# left running by an earlier, interrupted run is reused only if pg_ctl finds it running
# and it answers on its own socket; otherwise a fresh one is made.
# `peers_stop_postgres` (called from the caller's trap) stops the cluster this run
# started or reused.
#
# WORKVAULT_TEST_PG_URL (or TEST_DATABASE_URL) already set: that server is used as is.

PEERS_DIR=${PEERS_DIR:-$PWD/target/peers}
PG_RUN="$PEERS_DIR/postgres"
PG_STARTED=""
PG_DIR=""

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/postgres" ] && [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

pg_install() {
  pg_bin >/dev/null && command -v psql >/dev/null && command -v pg_dump >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "postgres: the PostgreSQL server is not installed and this user cannot apt-get install it" >&2
    return 1
  fi
  echo "postgres: installing the PostgreSQL server (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 postgresql-client-15 >/dev/null 2>&1 ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql postgresql-client >/dev/null
}

pg_as() {
  # initdb and postgres refuse to run as root: run them as the postgres user.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A throwaway CA and a server certificate for 127.0.0.1, so the tests connect over
# TLS with the certificate verified (WORKVAULT_TEST_PG_CA names the CA).
pg_tls() {
  local dir=$1/tls
  command -v openssl >/dev/null || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null; }
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Workvault test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" >/dev/null 2>&1 || return 1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1 || return 1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
    -extfile "$dir/server.ext" -out "$dir/server.crt" >/dev/null 2>&1 || return 1
  chmod 600 "$dir/server.key" "$dir/ca.key"
  chmod 644 "$dir/ca.crt" "$dir/server.crt"
}

pg_port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

peers_start_postgres() {
  if [ -n "${WORKVAULT_TEST_PG_URL:-}" ]; then
    echo "postgres: using WORKVAULT_TEST_PG_URL"
    return 0
  fi
  if [ -n "${TEST_DATABASE_URL:-}" ]; then
    export WORKVAULT_TEST_PG_URL="$TEST_DATABASE_URL"
    echo "postgres: using TEST_DATABASE_URL"
    return 0
  fi
  pg_install || return 1
  local bin; bin=$(pg_bin)
  mkdir -p "$PG_RUN"

  # Reuse a cluster left by an interrupted run only if pg_ctl finds it running in its
  # own data directory and it answers on its own socket; this run then stops it.
  if [ -f "$PG_RUN/dir" ] && [ -f "$PG_RUN/port" ]; then
    local dir port; dir=$(cat "$PG_RUN/dir"); port=$(cat "$PG_RUN/port")
    if [ -d "$dir/data" ] && pg_as "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 &&
      "$bin/pg_isready" -q -h "$dir/sock" -p "$port"; then
      PG_DIR=$dir; PG_STARTED=1
      export WORKVAULT_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
      export WORKVAULT_TEST_PG_CA="$dir/tls/ca.crt"
      echo "postgres: reusing the cluster on port $port"
      return 0
    fi
    [ -d "$dir/data" ] && pg_as "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
    case "$dir" in /tmp/workvault-pg.*) rm -rf "$dir" ;; esac
    rm -f "$PG_RUN/dir" "$PG_RUN/port"
  fi

  # The cluster lives in a private temporary directory the postgres user owns (the
  # checkout may sit where that user cannot reach).
  PG_DIR=$(mktemp -d /tmp/workvault-pg.XXXXXX)
  mkdir -p "$PG_DIR/data" "$PG_DIR/sock"
  : >"$PG_DIR/server.log"
  pg_tls "$PG_DIR" || { echo "postgres: could not make the test TLS certificates (openssl)" >&2; return 1; }
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$PG_DIR"; fi
  echo "$PG_DIR" >"$PG_RUN/dir"
  if ! pg_as "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$PG_RUN/initdb.log" 2>&1; then
    echo "postgres: initdb failed:" >&2; tail -n 20 "$PG_RUN/initdb.log" >&2; return 1
  fi
  local port=55432
  while ! pg_port_free "$port"; do port=$((port + 1)); done
  if ! pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
    -o "-p $port -k $PG_DIR/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c ssl=on -c ssl_cert_file=$PG_DIR/tls/server.crt -c ssl_key_file=$PG_DIR/tls/server.key" \
    start >/dev/null; then
    echo "postgres: the server did not start:" >&2; tail -n 20 "$PG_DIR/server.log" >&2; return 1
  fi
  echo "$port" >"$PG_RUN/port"
  PG_STARTED=1
  export WORKVAULT_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
  export WORKVAULT_TEST_PG_CA="$PG_DIR/tls/ca.crt"
  echo "postgres: started $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($PG_DIR)"
}

peers_stop_postgres() {
  [ -n "$PG_STARTED" ] || return 0
  local bin; bin=$(pg_bin) || return 0
  pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  case "$PG_DIR" in /tmp/workvault-pg.*) rm -rf "$PG_DIR" ;; esac
  rm -f "$PG_RUN/dir" "$PG_RUN/port"
  PG_STARTED=""
}
