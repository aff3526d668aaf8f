#!/usr/bin/env bash
# The Web UI test drives Debian's chromium through playwright-core. Installs it when missing (root only).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "stackly: the Web UI test needs chromium: install Debian's 'chromium' package (or set CHROMIUM_PATH)" >&2
  exit 1
fi
echo "stackly: installing chromium (Debian package) for the Web UI test" >&2
t=$SECONDS
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
echo "stackly: chromium installed in $((SECONDS - t)) s" >&2
