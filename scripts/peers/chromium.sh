# Sourced by scripts/test: headless Chromium behind ChromeDriver, for the browser tests
# (crates/server/tests/browser/, through WebDriver).
#
# Installs Debian's chromium and chromium-driver with apt-get when /usr/bin/chromium or
# /usr/bin/chromedriver is missing (root only; a warm machine pays nothing), starts
# chromedriver on a free port from 9515 up, and waits until its /status reports ready
# (up to 15 s). Only --port is passed: chromedriver then listens on 127.0.0.1 and ::1
# only (--allowed-ips would make it listen on every interface). Exports
# WORKVAULT_TEST_WEBDRIVER_URL (http://127.0.0.1:PORT). Each test opens its own browser
# session through it, with a fresh profile, and closes it.
# The driver's pid, port and log are in target/peers/chromium. A driver left running by
# an earlier, interrupted run is stopped and a fresh one started. Calling
# `peers_prepare_chromium` again while this shell's driver answers keeps it.
# `peers_stop_chromium` (called from the caller's trap) stops the driver this shell
# started, and any browser it left open.
#
# WORKVAULT_TEST_WEBDRIVER_URL already set by the caller: that driver is used as is.

PEERS_DIR=${PEERS_DIR:-$PWD/target/peers}
CHROMIUM_RUN="$PEERS_DIR/chromium"
CHROMIUM_PID=""

chromium_install() {
  [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "chromium: /usr/bin/chromium or /usr/bin/chromedriver is missing and this user cannot apt-get install them" >&2
    echo "chromium: as root: apt-get install -y chromium chromium-driver" >&2
    return 1
  fi
  echo "chromium: installing chromium and chromium-driver (apt-get, about 20-30 s)"
  apt-get update -qq
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; then
    echo "chromium: apt-get install chromium chromium-driver failed" >&2
    return 1
  fi
  [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || {
    echo "chromium: installed, yet /usr/bin/chromium or /usr/bin/chromedriver is still missing" >&2
    return 1
  }
}

chromium_port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# True when the driver on port $1 says it is ready.
chromium_ready() {
  curl -sf --max-time 2 "http://127.0.0.1:$1/status" 2>/dev/null | grep -q '"ready": *true'
}

# True when pid $1 is a running chromedriver.
chromium_is_driver() {
  [ -n "$1" ] && grep -qa chromedriver "/proc/$1/cmdline" 2>/dev/null
}

# Stops chromedriver process $1, if that pid is still a chromedriver, and the browsers it
# started (its direct children), so an unclosed session leaves no Chromium behind.
chromium_kill() {
  local pid=$1 children i
  chromium_is_driver "$pid" || return 0
  children=$(ps -o pid= --ppid "$pid" 2>/dev/null | tr -s ' \n' ' ' || true)
  kill "$pid" 2>/dev/null || true
  # shellcheck disable=SC2086
  [ -z "$children" ] || kill $children 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  # shellcheck disable=SC2086
  [ -z "$children" ] || kill -9 $children 2>/dev/null || true
}

peers_prepare_chromium() {
  # Already started by this shell and still answering: keep it.
  if chromium_is_driver "$CHROMIUM_PID" && chromium_ready "$(cat "$CHROMIUM_RUN/port" 2>/dev/null)"; then
    echo "chromium: chromedriver already running (${WORKVAULT_TEST_WEBDRIVER_URL:-})"
    return 0
  fi
  if [ -z "$CHROMIUM_PID" ] && [ -n "${WORKVAULT_TEST_WEBDRIVER_URL:-}" ]; then
    echo "chromium: using WORKVAULT_TEST_WEBDRIVER_URL ($WORKVAULT_TEST_WEBDRIVER_URL)"
    return 0
  fi
  chromium_install || return 1
  mkdir -p "$CHROMIUM_RUN"
  chromium_kill "$CHROMIUM_PID"
  chromium_kill "$(cat "$CHROMIUM_RUN/pid" 2>/dev/null)"
  rm -f "$CHROMIUM_RUN/pid" "$CHROMIUM_RUN/port"
  CHROMIUM_PID=""

  local port=9515 started="" _ i
  for _ in 1 2 3; do
    while ! chromium_port_free "$port"; do port=$((port + 1)); done
    : >"$CHROMIUM_RUN/chromedriver.log"
    /usr/bin/chromedriver --port="$port" </dev/null >>"$CHROMIUM_RUN/chromedriver.log" 2>&1 &
    CHROMIUM_PID=$!
    echo "$CHROMIUM_PID" >"$CHROMIUM_RUN/pid"
    for i in $(seq 150); do
      kill -0 "$CHROMIUM_PID" 2>/dev/null || break
      if chromium_ready "$port"; then started=1; break; fi
      sleep 0.1
    done
    [ -n "$started" ] && break
    # Another process may have taken the port between the check and the bind: try the next.
    if ! kill -0 "$CHROMIUM_PID" 2>/dev/null && grep -qi "address already in use\|bind() failed" "$CHROMIUM_RUN/chromedriver.log"; then
      CHROMIUM_PID=""; port=$((port + 1)); continue
    fi
    break
  done
  if [ -z "$started" ]; then
    echo "chromium: chromedriver --port=$port did not report ready on 127.0.0.1:$port within 15 s; the end of $CHROMIUM_RUN/chromedriver.log:" >&2
    tail -n 20 "$CHROMIUM_RUN/chromedriver.log" >&2
    peers_stop_chromium
    return 1
  fi
  echo "$port" >"$CHROMIUM_RUN/port"
  export WORKVAULT_TEST_WEBDRIVER_URL="http://127.0.0.1:$port"
  echo "chromium: started $(/usr/bin/chromedriver --version | cut -d' ' -f1-2) on 127.0.0.1:$port for $(/usr/bin/chromium --version 2>/dev/null) (log $CHROMIUM_RUN/chromedriver.log)"
}

peers_stop_chromium() {
  [ -n "$CHROMIUM_PID" ] || return 0
  chromium_kill "$CHROMIUM_PID"
  rm -f "$CHROMIUM_RUN/pid" "$CHROMIUM_RUN/port"
  CHROMIUM_PID=""
  unset WORKVAULT_TEST_WEBDRIVER_URL
}
