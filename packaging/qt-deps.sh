#!/usr/bin/env bash
# packaging/qt-deps.sh [VENV]: make sure the system libraries PySide6's xcb platform plugin needs are present.
# Only checked when a display will be used (DISPLAY/WAYLAND_DISPLAY set, QT_QPA_PLATFORM not offscreen).
# Installs the missing Debian packages when root; otherwise prints the exact apt-get line and exits 1.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$here/.venv}"

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then exit 0; fi
case "${QT_QPA_PLATFORM:-}" in offscreen*|minimal*) exit 0 ;; esac

plugin="$(find "$venv" -path '*PySide6/Qt/plugins/platforms/libqxcb.so' 2>/dev/null | head -n 1)"
if [ -z "$plugin" ]; then
    echo "qt-deps: PySide6's libqxcb.so not found under $venv; is PySide6 installed?" >&2
    exit 1
fi

# library soname prefix -> Debian package
package_for() {
    case "$1" in
        libxcb-cursor.so*) echo libxcb-cursor0 ;;
        libxcb-icccm.so*) echo libxcb-icccm4 ;;
        libxcb-keysyms.so*) echo libxcb-keysyms1 ;;
        libxcb-image.so*) echo libxcb-image0 ;;
        libxcb-render-util.so*) echo libxcb-render-util0 ;;
        libxkbcommon-x11.so*) echo libxkbcommon-x11-0 ;;
        libxkbcommon.so*) echo libxkbcommon0 ;;
        libxcb-shape.so*) echo libxcb-shape0 ;;
        libxcb-xkb.so*) echo libxcb-xkb1 ;;
        libxcb-randr.so*) echo libxcb-randr0 ;;
        libxcb-xinerama.so*) echo libxcb-xinerama0 ;;
        libxcb-xfixes.so*) echo libxcb-xfixes0 ;;
        libxcb-shm.so*) echo libxcb-shm0 ;;
        libxcb-sync.so*) echo libxcb-sync1 ;;
        libxcb-render.so*) echo libxcb-render0 ;;
        libxcb.so*) echo libxcb1 ;;
        libX11-xcb.so*) echo libx11-xcb1 ;;
        libX11.so*) echo libx11-6 ;;
        libEGL.so*) echo libegl1 ;;
        libGL.so*|libOpenGL.so*|libGLX.so*) echo libgl1 ;;
        libfontconfig.so*) echo libfontconfig1 ;;
        libfreetype.so*) echo libfreetype6 ;;
        libdbus-1.so*) echo libdbus-1-3 ;;
        libglib-2.0.so*|libgthread-2.0.so*) echo libglib2.0-0 ;;
        *) echo "" ;;
    esac
}

missing_libs=()
while read -r lib _arrow where _rest; do
    if [ "$where" = "not" ]; then missing_libs+=("$lib"); fi
done < <(LD_LIBRARY_PATH="$(dirname "$plugin")/../../lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$plugin" 2>/dev/null || true)

if [ ${#missing_libs[@]} -eq 0 ]; then exit 0; fi

packages=()
unknown=()
for lib in "${missing_libs[@]}"; do
    pkg="$(package_for "$lib")"
    if [ -z "$pkg" ]; then unknown+=("$lib"); continue; fi
    case " ${packages[*]-} " in *" $pkg "*) ;; *) packages+=("$pkg") ;; esac
done

echo "qt-deps: the Qt window needs system libraries that are missing: ${missing_libs[*]}" >&2
if [ ${#unknown[@]} -gt 0 ]; then
    echo "qt-deps: no known Debian package for: ${unknown[*]}" >&2
fi
if [ ${#packages[@]} -eq 0 ]; then exit 1; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "qt-deps: installing ${packages[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    exit $?
fi
echo "qt-deps: install them with:" >&2
echo "sudo apt-get install ${packages[*]}"
exit 1
