# Shared shell helpers for the scripts in this folder. Source it; do not run it.
# shellcheck shell=bash

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="${HAILO_FLEET_VENV:-$REPO_ROOT/.venv}"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/hailo-fleet"
export REPO_ROOT VENV CACHE_DIR

log() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "'$*' needs root; install sudo or run this script as root"
  fi
}

# Puts the project venv first on PATH so ansible, molecule and the linters are the pinned ones.
use_venv() {
  [ -x "$VENV/bin/python" ] || die "no virtualenv at $VENV: run scripts/bootstrap first"
  export PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV"
}

# The Debian mirror this host already uses (DEBIAN_MIRROR overrides): debootstrap and apt-get download for
# other suites must reach the same package source.
debian_mirror() {
  [ -z "${DEBIAN_MIRROR:-}" ] || { echo "${DEBIAN_MIRROR%/}"; return; }
  local uri
  uri=$(grep -h -E '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -v -e security -e updates | grep -o -E 'https?://[^ ]+/debian/?' | head -1 || true)
  [ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list*; set DEBIAN_MIRROR"
  echo "${uri%/}"
}

# trixie_download DEST PACKAGE...: downloads Debian 13 packages for this host's architecture into DEST with
# apt-get download, from a trixie source list, lists and cache of their own under $CACHE_DIR/apt-trixie (the
# host's packages and package lists are not touched). The lists are refreshed once per call.
trixie_download() {
  local dest=$1 apt_dir=$CACHE_DIR/apt-trixie; shift
  mkdir -p "$dest" "$apt_dir"/{lists/partial,cache/archives/partial}
  printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$(debian_mirror)" > "$apt_dir/trixie.sources"
  local opts=(-o "Dir::Etc::sourcelist=$apt_dir/trixie.sources" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$apt_dir/lists"
              -o "Dir::Cache=$apt_dir/cache" -o "APT::Architecture=$(dpkg --print-architecture)" -q)
  apt-get "${opts[@]}" update >"$apt_dir/update.log" 2>&1 || die "apt-get update for trixie failed: see $apt_dir/update.log"
  (cd "$dest" && apt-get "${opts[@]}" download "$@" >"$apt_dir/download.log" 2>&1) \
    || die "apt-get download $* (trixie) failed: see $apt_dir/download.log"
}
