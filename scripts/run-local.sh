#!/usr/bin/env bash
# Starts a local gateway: two real MCP servers, the broker and Envoy with the
# mcp_router filter, as configured in testdata/local/gateway.yaml. Logs go to
# .run/logs/. Ctrl-C (or any process exiting) stops everything it started.
# Run it through `just run`, which installs and builds what it needs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
envoy_bin=${ENVOY_BIN:-$root/.venv/bin/envoy}
peers=${MCP_TEST_PEERS:-$root/testdata/upstreams/node_modules}
config=$root/testdata/local/gateway.yaml
run=$root/.run
logs=$run/logs
mkdir -p "$logs" "$run/ecds"

pids=()
stop() {
    trap - EXIT INT TERM
    if [ ${#pids[@]} -gt 0 ]; then
        kill "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    fi
    echo "stopped."
}
# Ctrl-C or SIGTERM is how a local gateway is meant to end: stop everything
# and exit 0. Anything else that ends the script (a process that died, an
# error) stops everything too, and keeps the failing status.
trap 'stop; exit 0' INT TERM
trap stop EXIT

# Waits until a URL answers 200, or fails naming the log to read.
wait_for() {
    local url=$1 what=$2 log=$3
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    echo "error: $what did not come up; see $log" >&2
    tail -n 20 "$log" >&2 || true
    exit 1
}

for port in 3001 3002 8080 8090 9901; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "error: port $port is in use; stop what holds it (e.g. an earlier 'just run')" >&2
        exit 1
    fi
done

cp "$target/wasm32-wasip1/wasm/mcp_router.wasm" "$run/mcp_router.wasm"

echo "starting upstream MCP servers..."
PORT=3001 node "$peers/@modelcontextprotocol/server-everything/dist/index.js" streamableHttp \
    > "$logs/everything.log" 2>&1 &
pids+=($!)
"$target/debug/mcp-test-server" --listen 127.0.0.1:3002 --name echo > "$logs/echo.log" 2>&1 &
pids+=($!)

echo "starting the broker..."
"$target/debug/mcp-broker" --config "$config" envoy-bootstrap --output "$run/envoy.yaml"
"$target/debug/mcp-broker" --config "$config" > "$logs/broker.log" 2>&1 &
pids+=($!)
wait_for http://127.0.0.1:8090/readyz "the broker" "$logs/broker.log"

echo "starting Envoy..."
"$envoy_bin" -c "$run/envoy.yaml" --use-dynamic-base-id --log-level warn \
    --component-log-level wasm:info > "$logs/envoy.log" 2>&1 &
pids+=($!)
wait_for http://127.0.0.1:9901/ready "Envoy" "$logs/envoy.log"

cat <<MSG

MCP gateway ready: http://127.0.0.1:8080/mcp

  upstreams  everything (prefix everything_), echo (prefix echo_)
  status     curl -s http://127.0.0.1:8090/status
  logs       $logs/

List the tools through the gateway with the MCP Inspector:

  npx @modelcontextprotocol/inspector@0.15.0 --cli http://127.0.0.1:8080/mcp --transport http --method tools/list

Call one:

  npx @modelcontextprotocol/inspector@0.15.0 --cli http://127.0.0.1:8080/mcp --transport http --method tools/call --tool-name echo_echo --tool-arg text=hello

Ctrl-C stops everything.
MSG

# Stop when any process exits (the trap stops the rest).
wait -n "${pids[@]}" || true
echo "a process exited; see $logs/" >&2
exit 1
