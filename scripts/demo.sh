#!/usr/bin/env bash
# Install kitgen, generate a sample service and run it (no database or Redis needed).
#   bash scripts/demo.sh [DEST]           serve on http://127.0.0.1:8000 until Ctrl-C
#   bash scripts/demo.sh --check [DEST]   start it, print GET /health, stop
set -euo pipefail
cd "$(dirname "$0")/.."
check=false
if [ "${1:-}" = "--check" ]; then check=true; shift; fi
dest=$(realpath -m "${1:-demo-service}")
port=${PORT:-8000}

bash scripts/venv.sh
if [ ! -e "$dest/.copier-answers.yml" ]; then
    .venv/bin/kitgen new "$dest" --defaults --vcs-ref HEAD --data service_name=orders
fi
.venv/bin/uv venv -q --python .venv/bin/python "$dest/.venv"
.venv/bin/uv pip install -q --python "$dest/.venv/bin/python" -e "$dest[dev]"

cd "$dest"
serve=(.venv/bin/python -m uvicorn orders.app:app --host 127.0.0.1 --port "$port")
if ! $check; then
    echo "serving $dest on http://127.0.0.1:$port (try /health and /docs); Ctrl-C stops it"
    exec env -u DATABASE_URL "${serve[@]}"
fi
env -u DATABASE_URL "${serve[@]}" > "$dest/demo.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    if health=$(.venv/bin/python -c "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())" "http://127.0.0.1:$port/health" 2>/dev/null); then
        echo "GET /health -> $health"
        exit 0
    fi
    sleep 0.2
done
echo "the service did not answer; its log:" >&2
cat "$dest/demo.log" >&2
exit 1
