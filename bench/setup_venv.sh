#!/usr/bin/env bash
# Create bench/.venv with the Python reference library `lifetimes` 0.11.3 and
# the pinned versions of its dependencies that still work with it.
#
# Idempotent: if the venv already imports lifetimes 0.11.3, nothing happens.
# Prints the path of the venv's python on its last line of output.
#
# Usage: bench/setup_venv.sh            (PYTHON=python3.11 to pick an interpreter)
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$BENCH_DIR/.venv"
PY="$VENV/bin/python"
LIFETIMES_VERSION="0.11.3"

venv_ok() {
    [[ -x "$PY" ]] && "$PY" - "$LIFETIMES_VERSION" >/dev/null 2>&1 <<'EOF'
import sys
import lifetimes
assert lifetimes.__version__ == sys.argv[1], lifetimes.__version__
EOF
}

if venv_ok; then
    echo "lifetimes $LIFETIMES_VERSION already installed in $VENV" >&2
    echo "$PY"
    exit 0
fi

# numpy<2 has no wheels for Python 3.13+, so pick an interpreter from 3.8 to 3.12.
py_fits() {
    command -v "$1" >/dev/null 2>&1 &&
        "$1" -c 'import sys; sys.exit(0 if (3, 8) <= sys.version_info[:2] <= (3, 12) else 1)' 2>/dev/null
}
BASE_PYTHON=""
for cand in ${PYTHON:-} python3 python3.12 python3.11 python3.10 python3.9; do
    if py_fits "$cand"; then BASE_PYTHON="$cand"; break; fi
done
if [[ -z "$BASE_PYTHON" ]]; then
    echo "error: need Python 3.8-3.12 for lifetimes 0.11.3 with numpy<2 (set PYTHON=/path/to/python3.x)" >&2
    exit 1
fi
if ! "$BASE_PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    # Debian splits the venv module off into python3-venv.
    if command -v apt-get >/dev/null 2>&1 && [[ $EUID -eq 0 ]]; then
        echo "installing python3-venv with apt-get" >&2
        apt-get update -qq >&2 && apt-get install -y -qq python3-venv >&2
    else
        echo "error: $BASE_PYTHON has no venv module; install python3-venv" >&2
        exit 1
    fi
fi

echo "creating $VENV with $("$BASE_PYTHON" --version 2>&1)" >&2
# A half-built venv from an interrupted run is thrown away and made anew.
rm -rf "$VENV"
"$BASE_PYTHON" -m venv "$VENV"
# lifetimes 0.11.3 (2020) predates numpy 2, pandas 2 and scipy 1.13: keep below them.
"$PY" -m pip install --quiet "numpy<2" "pandas<2" "scipy<1.13" autograd dill "lifetimes==$LIFETIMES_VERSION" >&2

if ! venv_ok; then
    echo "error: lifetimes $LIFETIMES_VERSION still not importable from $VENV" >&2
    exit 1
fi
echo "installed lifetimes $LIFETIMES_VERSION in $VENV" >&2
echo "$PY"
