#!/usr/bin/env bash
# The whole test suite against real Postgres and Redis (installs what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
bash scripts/venv.sh
set +e
# One worker per core; a test file stays on one worker, so its module fixtures (a
# rendered service, a cluster) are built once. KITGEN_TEST_WORKERS=0 runs in-process.
.venv/bin/python -m pytest -n "${KITGEN_TEST_WORKERS:-auto}" --dist loadfile --durations=25 "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "test.sh: pytest collected no tests; that is a failure here" >&2
    exit 1
fi
exit "$status"
