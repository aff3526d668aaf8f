#!/usr/bin/env bash
# Installs the npm dependencies when node_modules is missing or older than package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null || { echo "stackly: Node.js >= 20.19 is required (node not on PATH)" >&2; exit 1; }
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
  { echo "stackly: Node.js >= 20.19 is required, found $(node --version)" >&2; exit 1; }
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "stackly: installing npm dependencies" >&2
  t=$SECONDS
  # Not `npm ci`: the registry these machines reach is a partial mirror without the other platforms'
  # optional binaries (@swc/core-darwin-*, …), which `npm ci` insists on finding in the lock file.
  # `npm install --no-save` installs exactly the locked versions and leaves the lock file alone.
  npm install --no-save --no-audit --no-fund --loglevel=error >&2
  echo "stackly: npm dependencies installed in $((SECONDS - t)) s" >&2
fi
