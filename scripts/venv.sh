#!/usr/bin/env bash
# Create .venv with Python 3.11+ and install kitgen with its dev extras (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

pick_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"; return
        fi
    done
    echo "kitgen needs Python 3.11 or newer" >&2; return 1
}

if [ ! -x .venv/bin/python ]; then
    "$(pick_python)" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
