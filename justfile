# mcp-wasm-gateway tasks. `just --list` shows them all.
#
# The two a new user needs: `just run` (a local gateway on
# http://127.0.0.1:8080/mcp) and `just test`.

set shell := ["bash", "-euo", "pipefail", "-c"]

root := justfile_directory()
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", root / "target")
# No incremental caches: they only speed up edit-compile loops, and on a
# machine with a small disk they grew by gigabytes per `just test`.
export CARGO_INCREMENTAL := env_var_or_default("CARGO_INCREMENTAL", "0")
venv := root / ".venv"
export ENVOY_BIN := env_var_or_default("ENVOY_BIN", venv / "bin/envoy")
export MCP_ROUTER_WASM := CARGO_TARGET_DIR / "wasm32-wasip1/wasm/mcp_router.wasm"
export MCP_TEST_PEERS := root / "testdata/upstreams/node_modules"
export MCP_PYTHON := venv / "bin/python"
# ContextForge, a benchmark peer, in its own venv (`just setup-contextforge`).
export MCP_CONTEXTFORGE := venv / "contextforge/bin/mcpgateway"
# The real kube-apiserver (1.20) the operator's integration test runs
# against, built by scripts/kube-apiserver/build.sh (`just setup-kube`).
kube_tools := root / "scripts/kube-apiserver"
# cargo-fuzz, installed once by `just setup-fuzz`.
fuzz_tools := env_var_or_default("XDG_CACHE_HOME", env_var("HOME") / ".cache") / "mcp-wasm-gateway/tools/cargo-fuzz"
export PATH := fuzz_tools / "bin" + ":" + env_var("PATH")
export MCP_KUBE_APISERVER := env_var_or_default("MCP_KUBE_APISERVER", env_var_or_default("XDG_CACHE_HOME", env_var("HOME") / ".cache") / "kube-apiserver-1.20/bin/kube-apiserver")

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

# Build the router filter (mcp_router.wasm), and the benchmarks' wasm floor
# filter beside it (bench_floor_filter.wasm, small).
build-wasm: setup-rust
    cargo build -p mcp-router -p bench-floor-filter --target wasm32-wasip1 --profile wasm

# Build the filter and the native binaries.
build: build-wasm
    cargo build -p mcp-broker -p mcp-test-server

# Run a local gateway: Envoy + mcp_router.wasm + broker + two real MCP
# servers, at http://127.0.0.1:8080/mcp. Ctrl-C stops everything.
run: setup build
    #!/usr/bin/env bash
    # Ctrl-C must reach the gateway's script alone, which stops everything
    # and exits 0: `just` itself exits 130 whenever it catches a SIGINT.
    # With job control the script's group, not just's, gets the terminal.
    if [ -t 0 ]; then
        set -m
        "{{root}}/scripts/run-local.sh" &
        fg %1
    else
        exec "{{root}}/scripts/run-local.sh"
    fi

# Every test: unit, wasm harness (with a smoke of the mutation run), end to
# end (real Envoy, broker, upstreams, Redis), the operator against a real
# kube-apiserver, the benchmarks' smoke run (right answers through every
# compared system, ContextForge included), the core's tests under
# wasm-bindgen-test, a short `cargo fuzz` run.
test: setup build-wasm setup-kube setup-contextforge setup-redis
    # The end-to-end, operator and bench tests start other crates' binaries
    # (mcp-broker, the test upstreams), which `cargo test` alone does not build.
    cargo build --workspace --bins
    MCP_REQUIRE_KUBE=1 cargo test --workspace --all-targets
    {{just_executable()}} test-wasm-bindgen
    {{just_executable()}} fuzz-smoke

# The router's pure core, the JSON-RPC parser and the route table, their
# unit tests compiled to wasm32-unknown-unknown and run on Node under
# wasm-bindgen-test (the runner of Cargo.lock's wasm-bindgen version, built
# once by scripts/wasm-bindgen/runner.sh): 32-bit behaviour, as the filter runs.
test-wasm-bindgen:
    rustup target add wasm32-unknown-unknown
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$(bash {{root}}/scripts/wasm-bindgen/runner.sh)" \
        cargo test --target wasm32-unknown-unknown --lib -p mcp-router -p mcp-protocol -p router-config

# Hostile input at scale (not part of `just test`, which runs a smoke of
# each): the `cargo fuzz` target on the router's pure core (nightly,
# fuzz/fuzz_targets/core.rs, seeded with fuzz/seeds/core) and the mutation
# run of the real .wasm through the harness, RUNS inputs each. Writes
# docs/fuzzing.md; fails on any finding. About 10 minutes at 10⁶.
fuzz RUNS="1000000": build-wasm setup-fuzz
    #!/usr/bin/env bash
    set -euo pipefail
    corpus="$CARGO_TARGET_DIR/fuzz-corpus/core"
    log="$CARGO_TARGET_DIR/fuzz-corpus/libfuzzer.log"
    mkdir -p "$corpus"
    (cd "{{root}}/fuzz" && cargo +nightly fuzz run core "$corpus" seeds/core -- \
        -runs={{RUNS}} -max_len=65536 -print_final_stats=1) 2>&1 | tee "$log" | grep -E "DONE|Done|ERROR|panicked" || true
    grep -q "^Done " "$log" || { echo "cargo fuzz found a crash: see $log and fuzz/artifacts"; exit 1; }
    cargo run --release -p proxy-wasm-harness --bin fuzz-wasm -- --runs {{RUNS}} \
        --report "{{root}}/docs/fuzzing.md" --libfuzzer-log "$log"

# A short `cargo fuzz` run of the core target (part of `just test`; the
# mutation run's smoke is a harness test). libFuzzer writes what it finds
# into its first corpus directory: a scratch one, never the committed seeds.
fuzz-smoke: setup-fuzz
    #!/usr/bin/env bash
    set -euo pipefail
    corpus="$(mktemp -d)"
    trap 'rm -rf "$corpus"' EXIT
    cd "{{root}}/fuzz" && cargo +nightly fuzz run core "$corpus" seeds/core -- -runs=20000 -max_len=8192

# The nightly toolchain and cargo-fuzz (cached under ~/.cache) `just fuzz` needs.
setup-fuzz:
    #!/usr/bin/env bash
    set -euo pipefail
    rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
    command -v cargo-fuzz >/dev/null || [ -x "{{fuzz_tools}}/bin/cargo-fuzz" ] || \
        cargo +nightly install --quiet cargo-fuzz --root "{{fuzz_tools}}"

# What one request costs the filter: wasm instructions (fuel) and linear
# memory per body size, route table size and method. Prints the table and
# writes docs/benchmarks/filter-cost.md.
bench-filter: build-wasm
    cargo run --release -p proxy-wasm-harness --bin bench-filter -- "{{root}}/docs/benchmarks/filter-cost.md"

# Formatting and lints, as CI wants them.
lint: setup-rust
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    # The filters' proxy-wasm glue only exists in the wasm build.
    cargo clippy -p mcp-router -p proxy-header-map -p bench-floor-filter --target wasm32-wasip1 --all-targets -- -D warnings

# Regenerate the committed route table JSON Schema.
schema:
    UPDATE_SCHEMA=1 cargo test -p router-config --test schema

# A real kube-apiserver for the operator's integration test: built once from
# Debian's kubernetes 1.20 source package (5-8 minutes, cached under
# ~/.cache/kube-apiserver-1.20), plus Debian's etcd. Needs root or sudo for apt.
setup-kube:
    #!/usr/bin/env bash
    set -euo pipefail
    bash "{{root}}/scripts/need-command.sh" etcd etcd-server
    if [ ! -x "$MCP_KUBE_APISERVER" ]; then
        sudo=""; if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
        $sudo env HOME="$HOME" bash "{{kube_tools}}/build.sh"
    fi
    "$MCP_KUBE_APISERVER" --version

# The operator's tests only: pure reconcile cases, mocked-client controller
# tests, and the integration test against the real API server.
test-operator: setup-kube
    cargo build --workspace --bins
    MCP_REQUIRE_KUBE=1 cargo test -p mcp-operator --all-targets

# Regenerate the operator's CRDs (wasm-plugins/kubernetes/crds.yaml) and the
# filter examples from the Rust types; their tests fail while stale.
crds:
    cargo run -q -p mcp-operator --bin crdgen > "{{root}}/wasm-plugins/kubernetes/crds.yaml"
    UPDATE_GOLDEN=1 cargo test -q -p mcp-operator --test manifests --test cases

# Run the operator out of cluster against the current kubeconfig.
run-operator *ARGS:
    cargo run -p mcp-operator -- {{ARGS}}

# ContextForge (IBM's MCP gateway, a benchmark peer) in its own venv,
# .venv/contextforge: its pins conflict with .venv's. Idempotent.
setup-contextforge:
    #!/usr/bin/env bash
    set -euo pipefail
    cf="{{venv}}/contextforge"
    requirements="{{root}}/bench/contextforge/requirements.txt"
    if [ ! -x "$cf/bin/python" ]; then python3 -m venv "$cf"; fi
    if ! cmp -s "$requirements" "$cf/.requirements"; then
        "$cf/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
        cp "$requirements" "$cf/.requirements"
    fi

# What `just bench` needs besides `setup`: the load generator (`wrk`, from
# the Debian/Ubuntu archive; needs root or sudo) and ContextForge.
setup-bench: setup-contextforge
    bash "{{root}}/scripts/need-command.sh" wrk wrk

# Debian's redis-server, for the session-store and replica tests (each
# starts its own on a free loopback port). Needs root or sudo for apt.
setup-redis:
    bash "{{root}}/scripts/need-command.sh" redis-server redis-server

# Benchmarks side by side, several minutes (not part of `just test`): the
# upstream directly, plain Envoy, our gateway, Envoy's native MCP filters and
# ContextForge on the same workloads, then the broker at 50 upstreams.
# Rewrites docs/benchmarks.md and docs/benchmarks/throughput.svg. Run it on
# an idle machine; BENCH_NOTE="..." records what else was running. Extra
# arguments go to mcp-bench (`just bench --quick`, `just bench --help`).
bench *ARGS: setup build-wasm setup-bench
    cargo build --release -p mcp-broker -p mcp-bench-upstream -p mcp-bench
    "$CARGO_TARGET_DIR/release/mcp-bench" --out "{{root}}/docs" {{ARGS}}

# Where the routed call's and tools/list's CPU goes, by object (Envoy's
# own code, Envoy's code serving the wasm filter, the filter's JIT code,
# kernel, libraries; from perf's call chains), through plain
# Envoy, the wasm floor, the floor making our host calls (in a plain Envoy,
# then in our gateway in the router's place), our gateway and Envoy's
# native filters: `perf` over every loaded run, about 12 minutes.
# Rewrites docs/benchmarks-profile.md. Needs perf (Debian: linux-perf).
bench-profile *ARGS: setup build-wasm setup-bench
    cargo build --release -p mcp-broker -p mcp-bench-upstream -p mcp-bench
    "$CARGO_TARGET_DIR/release/mcp-bench" --profile --no-scale --systems floor,wasm-floor,wasm-router-calls,wasm-router-calls-gateway,gateway,native --workloads call-small,list-2x100 --out "{{root}}/docs" --name benchmarks-profile {{ARGS}}
