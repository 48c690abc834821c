#!/usr/bin/env bash
# Installs the Debian packages the full suite needs when they are missing: a PostgreSQL server
# (role, login and row-level-security tests need a real one, not the embedded PGlite) and Chromium
# (the browser project proves CORS in a real browser, driven by playwright-core).
set -euo pipefail

need=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)

if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages: ${need[*]}. Install them (apt-get install ${need[*]}) or run this script as root." >&2
  exit 1
fi
echo "Installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
