#!/usr/bin/env bash
# Installs what the test suite needs and fails loudly when it cannot:
# Debian's redis-server, chromium and nginx (apt-get, only when missing) and the npm
# packages of the Node test clients (e2e/) and the web UI (web/), from their lock files,
# and staticcheck (pinned) into .bin/.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for bin in redis-server chromium nginx node npm go; do
  command -v "$bin" >/dev/null 2>&1 || { echo "install-deps: FATAL: $bin is still missing" >&2; exit 1; }
done

# staticcheck, pinned, into the repository's .bin/ (make staticcheck runs it from there).
STATICCHECK_VERSION=v0.8.2
if ! .bin/staticcheck -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
  echo "install-deps: go install honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}"
  GOBIN="$PWD/.bin" go install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" ||
    { echo "install-deps: FATAL: cannot install staticcheck ${STATICCHECK_VERSION}" >&2; exit 1; }
fi
.bin/staticcheck -version >/dev/null || { echo "install-deps: FATAL: .bin/staticcheck does not run" >&2; exit 1; }

for dir in e2e web; do
  [ -f "$dir/package-lock.json" ] || continue
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "install-deps: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
echo "install-deps: ok"
