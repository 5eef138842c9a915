#!/usr/bin/env bash
# Prints the path of `wasm-bindgen-test-runner` of exactly the wasm-bindgen
# version in Cargo.lock (the runner refuses any other), building it first
# with `cargo install wasm-bindgen-cli` when it is not cached yet (a few
# minutes, once per version). Cached under
# ${XDG_CACHE_HOME:-~/.cache}/mcp-wasm-gateway/tools/wasm-bindgen-<version>.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
version=$(sed -n '/^name = "wasm-bindgen"$/{n;s/^version = "\(.*\)"$/\1/p;}' "$root/Cargo.lock")
if [ -z "$version" ]; then
    echo "no wasm-bindgen in $root/Cargo.lock" >&2
    exit 1
fi
prefix="${XDG_CACHE_HOME:-$HOME/.cache}/mcp-wasm-gateway/tools/wasm-bindgen-$version"
runner="$prefix/bin/wasm-bindgen-test-runner"
if [ ! -x "$runner" ]; then
    echo "building wasm-bindgen-cli $version into $prefix (once)" >&2
    # Its own target directory: the workspace's would rebuild it whenever
    # the workspace's dependencies change.
    CARGO_TARGET_DIR="$prefix/build" cargo install --quiet wasm-bindgen-cli \
        --version "$version" --root "$prefix" >&2
    rm -rf "$prefix/build"
fi
echo "$runner"
