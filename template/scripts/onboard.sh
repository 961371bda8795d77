#!/bin/sh
# New-hire onboarding: from a laptop with Python and Docker to a running stack and a served model.
# Idempotent: safe to run again. Usage: scripts/onboard.sh [devenv onboard options]
#   scripts/onboard.sh --install-cli   only install the CLI (if needed) and print its path (CI)
#
# The devenv CLI is found on PATH, or where pipx, uv or an earlier run of this script put it;
# otherwise it is installed from DEVENV_SOURCE (a pip requirement such as
# git+https://github.com/ORG/ml-devenv.git@main), else from the template source this project
# records in .copier-answers.yml (the same repository ships the CLI), pinned to its commit.
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

data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
venv="$data_home/ml-devenv/venv"

# The first devenv found: PATH, then the folders installers use (often not on PATH yet).
find_devenv() {
  if command -v devenv >/dev/null 2>&1; then
    command -v devenv
    return 0
  fi
  for candidate in \
    "${PIPX_BIN_DIR:-$HOME/.local/bin}/devenv" \
    "${UV_TOOL_BIN_DIR:-$HOME/.local/bin}/devenv" \
    "$venv/bin/devenv"; do
    if [ -x "$candidate" ]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

# A pip requirement for the CLI: DEVENV_SOURCE, else the recorded template source at its commit.
install_source() {
  if [ -n "${DEVENV_SOURCE:-}" ]; then
    printf '%s\n' "$DEVENV_SOURCE"
    return 0
  fi
  [ -f .copier-answers.yml ] || return 1
  src=$(sed -n 's/^_src_path: *//p' .copier-answers.yml | tr -d "'\"")
  commit=$(sed -n 's/^_commit: *//p' .copier-answers.yml | tr -d "'\"")
  case "$src" in
    # Empty, or a path in the creator's home (their template cache): not reachable from here.
    "" | *"/.cache/devenv/template" | \~/*) return 1 ;;
    gh:*) src="https://github.com/${src#gh:}" ;;
    gl:*) src="https://gitlab.com/${src#gl:}" ;;
  esac
  case "$src" in
    git+*) ;;
    /*)
      [ -f "$src/pyproject.toml" ] || return 1
      src="git+file://$src"
      ;;
    *) src="git+$src" ;;
  esac
  printf '%s%s\n' "$src" "${commit:+@$commit}"
}

if ! devenv_bin=$(find_devenv); then
  source=$(install_source) || fail "the devenv CLI is not installed and this project does not say where it comes from" \
    "set DEVENV_SOURCE=git+https://<your git host>/<org>/ml-devenv.git (ask the project's creator), or see docs/install.md"
  echo "Installing the devenv CLI from $source ..." >&2
  if command -v pipx >/dev/null 2>&1; then
    pipx install --force "$source" >&2 || fail "pipx could not install $source" "check the URL and your git access"
  elif command -v uv >/dev/null 2>&1; then
    uv tool install --force "$source" >&2 || fail "uv could not install $source" "check the URL and your git access"
  else
    python3 -m venv "$venv" || fail "python3 cannot create a virtual environment" \
      "install your Python's venv module (Debian/Ubuntu: apt install python3-venv)"
    "$venv/bin/python" -m pip install --quiet --upgrade pip >&2 || true
    "$venv/bin/python" -m pip install --quiet "$source" >&2 \
      || fail "pip could not install $source" "check the URL, your git access and your package index"
  fi
  devenv_bin=$(find_devenv) || fail "devenv was installed but cannot be found" \
    "add ~/.local/bin to PATH (pipx ensurepath), then run this again"
fi

if [ "${1:-}" = "--install-cli" ]; then
  printf '%s\n' "$devenv_bin"
  exit 0
fi

case "$(command -v devenv 2>/dev/null || true)" in
  "$devenv_bin") ;;
  *) echo "devenv is at $devenv_bin; add its folder to PATH to call it by name" >&2 ;;
esac
exec "$devenv_bin" onboard "$@"
