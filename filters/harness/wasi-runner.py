#!/usr/bin/env python3
"""Cargo's runner for wasm32-wasip1 test binaries (CARGO_TARGET_WASM32_WASIP1_RUNNER).

`just test-wasm-core` runs the router's pure-core unit tests compiled to
wasm32 with it, so 32-bit behaviour (usize, pointer-sized arithmetic, the
allocator) is tested as it runs in Envoy. It uses the `wasmtime` package
from PyPI (pinned in testdata/requirements.txt), which brings a complete
WASI: a libtest binary needs more of it than the filter does.

The workspace root is preopened at its own path, so fixtures read through
`env!("CARGO_MANIFEST_DIR")` paths resolve. Imports outside WASI (the
proxy-wasm ABI, which a filter crate's test binary may keep) are defined as
functions that trap, so calling one fails the test loudly.

A panic aborts on wasm32-wasip1 (no unwinding): the first failing test
stops the binary with a trap, reported here with exit status 101.
"""

import os
import sys

import wasmtime


def workspace_root(start: str) -> str:
    """The nearest directory above `start` holding Cargo.lock."""
    path = os.path.abspath(start)
    while True:
        if os.path.exists(os.path.join(path, "Cargo.lock")):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return os.path.abspath(start)
        path = parent


def trap_stub(store: wasmtime.Store, module: str, name: str, ty: wasmtime.FuncType):
    def call(*_args):
        raise wasmtime.WasmtimeError(
            f"{module}.{name} is not available to a test binary"
        )

    return wasmtime.Func(store, ty, call)


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: wasi-runner.py <module.wasm> [args...]", file=sys.stderr)
        return 2
    wasm, args = sys.argv[1], sys.argv[2:]
    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, wasm)
    store = wasmtime.Store(engine)

    wasi = wasmtime.WasiConfig()
    wasi.argv = [os.path.basename(wasm), *args]
    wasi.env = [
        (key, value)
        for key, value in os.environ.items()
        if key.startswith(("RUST_", "CARGO_", "UPDATE_"))
    ]
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    root = workspace_root(os.environ.get("CARGO_MANIFEST_DIR", os.getcwd()))
    wasi.preopen_dir(root, root)
    store.set_wasi(wasi)

    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    for item in module.imports:
        if item.module != "wasi_snapshot_preview1" and isinstance(
            item.type, wasmtime.FuncType
        ):
            linker.define(
                store,
                item.module,
                item.name,
                trap_stub(store, item.module, item.name, item.type),
            )

    try:
        instance = linker.instantiate(store, module)
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as exit_trap:
        return exit_trap.code
    except (wasmtime.Trap, wasmtime.WasmtimeError) as trap:
        print(f"\nwasm trap (a panic aborts on wasm32): {trap}", file=sys.stderr)
        return 101
    return 0


if __name__ == "__main__":
    sys.exit(main())
