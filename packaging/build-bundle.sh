#!/usr/bin/env bash
# packaging/build-bundle.sh: build dist/courier/ (a one-folder desktop bundle) with PyInstaller.
# Uses the repository's .venv with the "package" extra; prints the bundle's size.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=packaging/venv.sh
. "$root/packaging/venv.sh"
courier_venv test
"$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check "pyinstaller>=6.0"
"$root/.venv/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$root/dist" --workpath "$root/build/pyinstaller" "$root/packaging/courier.spec"
du -sh "$root/dist/courier" | awk '{print "bundle size: " $1 " (dist/courier)"}'
