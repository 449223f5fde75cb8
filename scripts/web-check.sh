#!/usr/bin/env bash
# Rebuilds the web UI into a temporary directory and fails when the result differs from
# the committed web/dist (which the gateway embeds). Fix a failure with `make web` and
# commit web/dist.
set -euo pipefail
cd "$(dirname "$0")/../web"
if [ ! -d node_modules ]; then
  echo "web-check: web/node_modules missing: run \`make deps\` (npm ci in web/)" >&2
  exit 1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
WEB_OUT_DIR="$out/dist" npx --no-install vite build --logLevel warn >"$out/build.log" 2>&1 || {
  cat "$out/build.log" >&2
  echo "web-check: vite build failed" >&2
  exit 1
}
if ! diff -r "$out/dist" dist >"$out/diff.txt"; then
  head -n 40 "$out/diff.txt" >&2
  echo "web-check: web/dist is stale: run \`make web\` and commit web/dist" >&2
  exit 1
fi
echo "web-check: web/dist matches the sources"
