# mcp-wasm-gateway tasks. `just --list` shows them all.
#
# The two a new user needs: `just run` (a local gateway on
# http://127.0.0.1:8080/mcp) and `just test`.

set shell := ["bash", "-euo", "pipefail", "-c"]

root := justfile_directory()
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", root / "target")
venv := root / ".venv"
export ENVOY_BIN := env_var_or_default("ENVOY_BIN", venv / "bin/envoy")
export MCP_ROUTER_WASM := CARGO_TARGET_DIR / "wasm32-wasip1/wasm/mcp_router.wasm"
export MCP_TEST_PEERS := root / "testdata/upstreams/node_modules"
export MCP_PYTHON := venv / "bin/python"

# List the tasks.
default:
    @just --list

# Install what the project needs: the wasm target, Envoy and the Python MCP
# SDK (in .venv), the Node MCP peers (in testdata/upstreams). Idempotent.
setup: setup-rust setup-python setup-node

setup-rust:
    rustup target add wasm32-wasip1

setup-python:
    #!/usr/bin/env bash
    set -euo pipefail
    stamp="{{venv}}/.requirements"
    if [ ! -x "{{venv}}/bin/python" ]; then python3 -m venv "{{venv}}"; fi
    if ! cmp -s "{{root}}/testdata/requirements.txt" "$stamp"; then
        "{{venv}}/bin/pip" install --quiet --disable-pip-version-check -r "{{root}}/testdata/requirements.txt"
        cp "{{root}}/testdata/requirements.txt" "$stamp"
    fi

setup-node:
    #!/usr/bin/env bash
    set -euo pipefail
    cd "{{root}}/testdata/upstreams"
    if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.installed-lock.json; then
        npm ci --no-audit --no-fund --loglevel=error
        cp package-lock.json node_modules/.installed-lock.json
    fi

# Build the router filter (mcp_router.wasm).
build-wasm: setup-rust
    cargo build -p mcp-router --target wasm32-wasip1 --profile wasm

# Build the filter and the native binaries.
build: build-wasm
    cargo build -p mcp-broker -p mcp-test-server

# Run a local gateway: Envoy + mcp_router.wasm + broker + two real MCP
# servers, at http://127.0.0.1:8080/mcp. Ctrl-C stops everything.
run: setup build
    "{{root}}/scripts/run-local.sh"

# Every test: unit, wasm harness, end to end (real Envoy, broker, upstreams).
test: setup build-wasm
    cargo test --workspace --all-targets

# Formatting and lints, as CI wants them.
lint: setup-rust
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    # The filter's proxy-wasm glue only exists in the wasm build.
    cargo clippy -p mcp-router --target wasm32-wasip1 --all-targets -- -D warnings

# Regenerate the committed route table JSON Schema.
schema:
    UPDATE_SCHEMA=1 cargo test -p router-config --test schema
