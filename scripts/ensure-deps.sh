#!/usr/bin/env bash
# Makes sure what the MadBase test suite needs is on this machine: Go,
# PostgreSQL's server binaries with PostGIS, redis-server, libvips, Chromium, and Node.js with npm for the
# end-to-end suite. As root on Debian/Ubuntu it installs what is missing with
# apt-get; otherwise it says what to install.
set -euo pipefail

missing=()
have_pg_bins() {
  local dir
  if command -v pg_config >/dev/null 2>&1; then
    dir=$(pg_config --bindir 2>/dev/null || true)
    [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && return 0
  fi
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && return 0
  done
  return 1
}
have_pg_bins || missing+=(postgresql)
# PostGIS, for the REST GeoJSON tests: the package of the newest installed
# PostgreSQL, else the distribution's default one.
have_postgis() {
  local f
  for f in /usr/share/postgresql/*/extension/postgis.control; do [ -f "$f" ] && return 0; done
  return 1
}
if ! have_postgis; then
  pgmajor=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
  if [ -n "$pgmajor" ]; then missing+=("postgresql-$pgmajor-postgis-3"); else missing+=(postgresql-postgis); fi
fi
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# Chromium, for the dashboard's browser tests (driven by playwright-core).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
# libvips (with pkg-config) for storage's image transformations, built through cgo.
{ command -v pkg-config >/dev/null 2>&1 && pkg-config --exists vips; } || missing+=(libvips-dev pkg-config)

if ! command -v go >/dev/null 2>&1; then
  echo "Go is not installed (or not on PATH): see https://go.dev/doc/install" >&2
  exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing: ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
