//! Prints this project's CRDs as YAML: `cargo run -p mcp-operator --bin
//! crdgen > wasm-plugins/kubernetes/crds.yaml`.

fn main() {
    print!("{}", mcp_operator::crd::all_yaml());
}
