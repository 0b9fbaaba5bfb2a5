# Sourced by ./run and ./test: create or update .venv/ at the repository root, idempotently.
# Usage: courier_venv [EXTRA]   (EXTRA is a pyproject optional-dependency group, e.g. "test")
# Re-installs only when pyproject.toml or the requested extra changed since the last install.
courier_venv() {
    local extra="${1:-}" root venv stamp want python
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    venv="$root/.venv"
    stamp="$venv/.courier-installed"
    python="${PYTHON:-python3}"
    if ! command -v "$python" >/dev/null 2>&1; then
        echo "courier: Python 3.11 or newer is needed (no '$python' on PATH)." >&2
        return 1
    fi
    if [ ! -x "$venv/bin/python" ]; then
        echo "courier: creating $venv" >&2
        "$python" -m venv "$venv" || { echo "courier: could not create the virtual environment (is python3-venv installed?)" >&2; return 1; }
    fi
    want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1) extra=$extra"
    # An install with the test extra also satisfies a plain run.
    if [ -f "$stamp" ] && { [ "$(cat "$stamp")" = "$want" ] || { [ -z "$extra" ] && grep -q "^$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1) extra=" "$stamp"; }; }; then
        return 0
    fi
    echo "courier: installing Courier into $venv ${extra:+(with [$extra])}" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
    if "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root${extra:+[$extra]}"; then
        echo "$want" > "$stamp"
    else
        echo "courier: pip could not install Courier's dependencies (see above)." >&2
        return 1
    fi
}
