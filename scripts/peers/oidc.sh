# Sourced by scripts/test: the OpenID Connect test provider (oidc-provider, Node.js).
#
# Installs Node.js and npm if they are missing, installs tests/peers/oidc's locked
# packages with `npm ci` when node_modules is missing or older than package-lock.json
# (a warm machine pays nothing), and exports WORKVAULT_TEST_OIDC_DIR, the absolute path
# of tests/peers/oidc. It starts no provider: each test starts its own
# (`node provider.mjs`, on its own port with its own JWKS file) and stops it.

OIDC_PEER_DIR="$PWD/tests/peers/oidc"

oidc_install_node() {
  command -v node >/dev/null && command -v npm >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "oidc: Node.js and npm are not installed and this user cannot apt-get install them" >&2
    return 1
  fi
  echo "oidc: installing Node.js and npm (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null || return 1
  command -v node >/dev/null && command -v npm >/dev/null
}

peers_prepare_oidc() {
  oidc_install_node || return 1
  local version major; version=$(node --version); major=${version#v}; major=${major%%.*}
  # Debian's own nodejs is 18; the provider was checked on 20 (it asks for 22, and
  # still works on 20).
  if [ "$major" -lt 20 ]; then
    echo "oidc: warning: Node.js $version is older than 20; oidc-provider 9 may not run on it" >&2
  fi
  # npm writes node_modules/.package-lock.json on every install: it is the stamp.
  local stamp="$OIDC_PEER_DIR/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ ! -f "$OIDC_PEER_DIR/node_modules/oidc-provider/package.json" ] ||
    [ "$OIDC_PEER_DIR/package-lock.json" -nt "$stamp" ]; then
    echo "oidc: installing the test provider's packages (npm ci)"
    if ! (cd "$OIDC_PEER_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
      echo "oidc: npm ci failed in $OIDC_PEER_DIR" >&2
      return 1
    fi
    touch "$stamp"
  fi
  export WORKVAULT_TEST_OIDC_DIR="$OIDC_PEER_DIR"
  echo "oidc: oidc-provider $(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$OIDC_PEER_DIR/node_modules/oidc-provider/package.json") on Node.js $version ($OIDC_PEER_DIR)"
}
