#!/usr/bin/env bash
# Installs the Debian packages the full suite needs when they are missing: a PostgreSQL server
# (role, login and row-level-security tests need a real one, not the embedded PGlite) and Chromium's
# headless shell (the browser project proves CORS in a real browser, driven by playwright-core).
# With the argument `bench` it installs only what `npm run bench` needs: wrk, the load generator
# (a C program, so the load costs less CPU than a Node generator on the same cores).
set -euo pipefail

need=()
case "${1:-}" in
  "")
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
    [ -x /usr/bin/chromium-headless-shell ] || need+=(chromium-headless-shell)
    ;;
  bench)
    command -v wrk >/dev/null || need+=(wrk)
    ;;
  *)
    echo "usage: $0 [bench]" >&2
    exit 2
    ;;
esac

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
