# Sourced by scripts/test: a throwaway S3 server (moto) for the blobs tests.
#
# Installs moto's server in a virtual environment under target/peers/moto-venv when it
# is missing or pinned to another version (a warm machine pays nothing), starts it on
# 127.0.0.1 on a free port from 9001 up, and has SigV4 checked: the server allows only
# three unsigned actions (INITIAL_NO_AUTH_ACTION_COUNT=3), which scripts/peers/s3_init.py
# spends on an IAM user, its access key and an allow-all policy. Exports
# WORKVAULT_TEST_S3_ENDPOINT (http://127.0.0.1:PORT), WORKVAULT_TEST_S3_ACCESS_KEY,
# WORKVAULT_TEST_S3_SECRET_KEY, WORKVAULT_TEST_S3_REGION (us-east-1) and
# WORKVAULT_TEST_S3_BUCKET (workvault-test, made by s3_init.py; each test works under a
# prefix of its own). Do not POST /moto-api/reset:
# it also deletes the IAM user, and the key with it.
# The server's pid, port and log are in target/peers/s3. A server left running by an
# earlier, interrupted run is stopped and a fresh one started (its key is not kept).
# `peers_stop_s3` (called from the caller's trap) stops the server this run started.
#
# WORKVAULT_TEST_S3_ENDPOINT already set: that server is used as is, with the
# WORKVAULT_TEST_S3_ACCESS_KEY and WORKVAULT_TEST_S3_SECRET_KEY the caller set.

PEERS_DIR=${PEERS_DIR:-$PWD/target/peers}
S3_RUN="$PEERS_DIR/s3"
S3_VENV="$PEERS_DIR/moto-venv"
S3_MOTO_VERSION=5.2.5
S3_INIT="$PWD/scripts/peers/s3_init.py"
S3_PID=""

s3_install() {
  # The stamp is written only after a complete install, so an interrupted one is redone.
  local stamp="$S3_VENV/.workvault-moto"
  if [ -x "$S3_VENV/bin/moto_server" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$S3_MOTO_VERSION" ]; then
    return 0
  fi
  echo "s3: installing moto[server] $S3_MOTO_VERSION in $S3_VENV (pip, about 20-30 s)"
  mkdir -p "$S3_RUN"
  rm -rf "$S3_VENV"
  : >"$S3_RUN/pip.log"
  # Debian's python3 makes virtual environments only with python3-venv installed.
  if ! command -v python3 >/dev/null || ! python3 -m venv "$S3_VENV" >>"$S3_RUN/pip.log" 2>&1; then
    rm -rf "$S3_VENV"
    if [ "$(id -u)" != 0 ]; then
      echo "s3: python3 cannot make a virtual environment (Debian: apt-get install python3-venv) and this user cannot apt-get install it:" >&2
      tail -n 5 "$S3_RUN/pip.log" >&2
      return 1
    fi
    echo "s3: installing python3-venv (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null || return 1
    if ! python3 -m venv "$S3_VENV" >>"$S3_RUN/pip.log" 2>&1; then
      echo "s3: python3 -m venv failed:" >&2; tail -n 20 "$S3_RUN/pip.log" >&2; rm -rf "$S3_VENV"; return 1
    fi
  fi
  if ! "$S3_VENV/bin/pip" install --disable-pip-version-check -q "moto[server]==$S3_MOTO_VERSION" boto3 >>"$S3_RUN/pip.log" 2>&1; then
    echo "s3: could not install moto in $S3_VENV:" >&2
    tail -n 20 "$S3_RUN/pip.log" >&2
    rm -rf "$S3_VENV"
    return 1
  fi
  echo "$S3_MOTO_VERSION" >"$stamp"
}

s3_port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Stops moto_server process $1, if that pid is still a moto_server.
s3_kill() {
  local pid=$1 i
  [ -n "$pid" ] && grep -qa moto_server "/proc/$pid/cmdline" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

peers_start_s3() {
  if [ -n "${WORKVAULT_TEST_S3_ENDPOINT:-}" ]; then
    export WORKVAULT_TEST_S3_REGION="${WORKVAULT_TEST_S3_REGION:-us-east-1}"
    export WORKVAULT_TEST_S3_BUCKET="${WORKVAULT_TEST_S3_BUCKET:-workvault-test}"
    if [ -z "${WORKVAULT_TEST_S3_ACCESS_KEY:-}" ] || [ -z "${WORKVAULT_TEST_S3_SECRET_KEY:-}" ]; then
      echo "s3: warning: WORKVAULT_TEST_S3_ENDPOINT is set without WORKVAULT_TEST_S3_ACCESS_KEY and WORKVAULT_TEST_S3_SECRET_KEY" >&2
    fi
    echo "s3: using WORKVAULT_TEST_S3_ENDPOINT ($WORKVAULT_TEST_S3_ENDPOINT)"
    return 0
  fi
  s3_install || return 1
  mkdir -p "$S3_RUN"
  s3_kill "$(cat "$S3_RUN/pid" 2>/dev/null)"
  rm -f "$S3_RUN/pid" "$S3_RUN/port"

  local port=9001 keys _
  for _ in 1 2 3; do
    while ! s3_port_free "$port"; do port=$((port + 1)); done
    : >"$S3_RUN/moto.log"
    : >"$S3_RUN/init.log"
    INITIAL_NO_AUTH_ACTION_COUNT=3 "$S3_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" \
      </dev/null >>"$S3_RUN/moto.log" 2>&1 &
    S3_PID=$!
    echo "$S3_PID" >"$S3_RUN/pid"
    if keys=$("$S3_VENV/bin/python" "$S3_INIT" "http://127.0.0.1:$port" "$S3_PID" 15 2>>"$S3_RUN/init.log"); then
      break
    fi
    keys=""
    # Another process may have taken the port between the check and the bind: try the next.
    if ! kill -0 "$S3_PID" 2>/dev/null && grep -q "Address already in use" "$S3_RUN/moto.log"; then
      S3_PID=""; port=$((port + 1)); continue
    fi
    break
  done
  if [ -z "$keys" ]; then
    echo "s3: moto_server did not start on 127.0.0.1:$port:" >&2
    tail -n 5 "$S3_RUN/init.log" >&2
    echo "s3: the end of $S3_RUN/moto.log:" >&2
    tail -n 20 "$S3_RUN/moto.log" >&2
    peers_stop_s3
    return 1
  fi
  echo "$port" >"$S3_RUN/port"
  export WORKVAULT_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
  export WORKVAULT_TEST_S3_ACCESS_KEY="${keys%%$'\n'*}"
  export WORKVAULT_TEST_S3_SECRET_KEY="${keys#*$'\n'}"
  export WORKVAULT_TEST_S3_REGION=us-east-1
  export WORKVAULT_TEST_S3_BUCKET=workvault-test
  echo "s3: started moto $S3_MOTO_VERSION on 127.0.0.1:$port (SigV4 checked; log $S3_RUN/moto.log)"
}

peers_stop_s3() {
  [ -n "$S3_PID" ] || return 0
  s3_kill "$S3_PID"
  rm -f "$S3_RUN/pid" "$S3_RUN/port"
  S3_PID=""
}
