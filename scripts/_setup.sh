# Sourced by scripts/desk and scripts/test: finds Python 3.12/3.13, creates .venv, installs the package;
# scripts/desk also gets the system libraries of Qt's X11 platform plugin, scripts/test redis-server for the Redis
# sink tests. Re-installs only when pyproject.toml changes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

_suitable() {
  # Run the candidate: PySide6 6.12 crashes on 3.11 and qasync stops at 3.13, so only 3.12/3.13 will do.
  "$1" -c 'import sys, venv, ensurepip; sys.exit(0 if (3, 12) <= sys.version_info[:2] < (3, 14) else 1)' \
    >/dev/null 2>&1
}

_find_python() {
  local candidates=() root
  for name in python3.13 python3.12 python3; do
    command -v "$name" >/dev/null 2>&1 && candidates+=("$(command -v "$name")")
  done
  root="$( (command -v pyenv >/dev/null 2>&1 && pyenv root) || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
  for p in "$root"/versions/3.13*/bin/python3 "$root"/versions/3.12*/bin/python3 \
           /usr/local/bin/python3.13 /usr/local/bin/python3.12 /usr/bin/python3.13 /usr/bin/python3.12; do
    [ -x "$p" ] && candidates+=("$p")
  done
  for p in "${candidates[@]}"; do
    # pyenv shims may point at a version that is not installed: running the candidate is the only test.
    if _suitable "$p"; then echo "$p"; return 0; fi
  done
  return 1
}

imperium_setup() {
  if [ -x "$VENV/bin/python" ] && ! _suitable "$VENV/bin/python"; then
    echo "setup: $VENV is not Python 3.12/3.13; recreating it" >&2
    rm -rf "$VENV"
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    local py
    if ! py="$(_find_python)"; then
      cat >&2 <<'MSG'
setup: no Python 3.12 or 3.13 found (on PATH or under pyenv). Imperium Desk needs one of them:
  Debian 13:      sudo apt-get install python3.13 python3.13-venv
  any Debian:     pyenv install 3.12   (https://github.com/pyenv/pyenv), then run this command again
MSG
      exit 1
    fi
    echo "setup: creating .venv with $py ($("$py" -c 'import sys; print(sys.version.split()[0])'))" >&2
    "$py" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "setup: installing imperium-desk and its test tools into .venv" >&2
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test]" >&2
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
}

_apt_install() {
  # _apt_install LOG PACKAGE...: quiet, logged; a fresh container has no package lists yet: fetch them once and
  # try again.
  local log="$1"
  shift
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1 && return 0
  apt-get update -qq >"$log" 2>&1 \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1
}

_apt_install_redis() {
  _apt_install "$1" redis-server
}

_xcb_plugin_loads() {
  # Fast path (no Python, ~5 ms): ldd of the venv's xcb plugin finds every library, libxcb-cursor among them
  # (Qt needs it since 6.5; a build that dlopens it instead is left to the full check).
  local plugin listing
  plugin="$(compgen -G "$VENV/lib/python3.*/site-packages/PySide6/Qt/plugins/platforms/libqxcb.so" | head -n 1)" \
    || return 1
  listing="$(ldd "$plugin" 2>/dev/null)" || return 1
  ! grep -q "not found" <<<"$listing" && grep -q "libxcb-cursor\.so\.0 => /" <<<"$listing"
}

imperium_xcb_packages() {
  # The Debian packages Qt's xcb platform plugin lacks here, one a line; `?soname` for a missing library with no
  # known package. The table and the check are imperium_desk/ui/platform_libs.py's, as the desk itself uses them.
  _xcb_plugin_loads && return 0
  (cd "$ROOT" && "$VENV/bin/python" -m imperium_desk.ui.platform_libs) 2>/dev/null || true
}

imperium_desktop_libs() {
  # The desk's window on X11 needs system libraries a fresh Debian lacks (libxcb-cursor0, libxcb-icccm4, ...).
  # Installs them when possible (root and apt-get); otherwise prints the one apt-get line that fixes it. Never
  # fails: headless commands do not need them, and the window command itself says the same in one line.
  case "${QT_QPA_PLATFORM:-}" in offscreen* | minimal* | vnc* | eglfs* | linuxfb* | wayland*) return 0 ;; esac
  local packages=() unknown=() line log reason
  while IFS= read -r line; do
    case "$line" in
      '?'*) unknown+=("${line#?}") ;;
      ?*) packages+=("$line") ;;
    esac
  done < <(imperium_xcb_packages)
  [ "${#packages[@]}" -eq 0 ] && [ "${#unknown[@]}" -eq 0 ] && return 0
  if [ "${#packages[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log="$(mktemp)"
    echo "setup: installing the system libraries of Qt's X11 platform plugin: ${packages[*]}" >&2
    _apt_install "$log" "${packages[@]}" || true
    if [ -z "$(imperium_xcb_packages)" ]; then
      rm -f "$log"
      return 0
    fi
    reason="$(grep -v '^\s*$' "$log" | tail -n 1 || true)"
    echo "setup: could not install them${reason:+ ($reason)}" >&2
    rm -f "$log"
  fi
  if [ "${#unknown[@]}" -gt 0 ]; then
    echo "setup: the desk's window also needs the package that provides ${unknown[*]}" >&2
  fi
  if [ "${#packages[@]}" -gt 0 ]; then
    echo "setup: the desk's window needs system libraries for Qt's X11 platform plugin: sudo apt-get install ${packages[*]}" >&2
  fi
  return 0
}

imperium_redis_for_tests() {
  # The Redis sink tests start their own redis-server on loopback (tests/redis_server.py). Installs Debian's
  # package when possible; otherwise says once why those tests will skip. Never fails the test command.
  command -v redis-server >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: redis-server not found and cannot be installed here (needs root and apt-get); the Redis sink tests will be skipped" >&2
    return 0
  fi
  local log
  log="$(mktemp)"
  echo "setup: installing redis-server (Debian package) for the Redis sink tests" >&2
  # No package lists yet (fresh containers): fetch them once and try again.
  if ! _apt_install_redis "$log"; then
    apt-get update -qq >"$log" 2>&1 && _apt_install_redis "$log" || true
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "setup: could not install redis-server ($(grep -v '^\s*$' "$log" | tail -n 1)); the Redis sink tests will be skipped" >&2
  fi
  rm -f "$log"
  return 0
}
