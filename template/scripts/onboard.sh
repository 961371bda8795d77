#!/bin/sh
# New-hire onboarding: from a laptop with Python and Docker to a running stack.
# Idempotent: safe to run again. Usage: scripts/onboard.sh
set -eu

cd "$(dirname "$0")/.."

fail() {
  printf 'onboard: %s\n' "$1" >&2
  [ -n "${2:-}" ] && printf '  hint: %s\n' "$2" >&2
  exit 1
}

command -v python3 >/dev/null 2>&1 || fail "python3 not found" "install Python 3.10 or newer"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || fail "Python 3.10 or newer is needed (found $(python3 -V 2>&1))" "install a newer Python"
command -v docker >/dev/null 2>&1 || fail "docker not found" "install Docker Engine or Docker Desktop"
docker info >/dev/null 2>&1 || fail "the Docker engine is not answering" "start Docker, then run this again"

if ! command -v devenv >/dev/null 2>&1; then
  echo "Installing the devenv CLI..."
  if command -v pipx >/dev/null 2>&1; then
    pipx install ml-devenv
  elif command -v uv >/dev/null 2>&1; then
    uv tool install ml-devenv
  else
    python3 -m venv .devenv-venv
    .devenv-venv/bin/pip install --quiet ml-devenv
    PATH="$PWD/.devenv-venv/bin:$PATH"
    export PATH
  fi
fi

exec devenv onboard "$@"
