//! The repository stands on its own: a clone with nothing beside it passes
//! `just test`'s setup steps, and nothing in it points outside itself.

use std::path::Path;
use std::process::Command;

use e2e::paths::repo_root;

fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{text}"
    );
    text
}

#[test]
fn a_clone_with_nothing_beside_it_passes_the_setup_steps() {
    let Ok(just) = which("just") else {
        panic!("`just` is not on PATH (`pip install rust-just`)");
    };
    let outer = tempfile::tempdir().expect("temporary directory");
    let clone = outer.path().join("repo");
    run(
        outer.path(),
        "git",
        &[
            "clone",
            "--quiet",
            &repo_root().display().to_string(),
            "repo",
        ],
    );
    assert_eq!(
        std::fs::read_dir(outer.path()).expect("list").count(),
        1,
        "the clone is alone in its directory"
    );
    // Nothing tracked refers to the sibling directory this workplace keeps
    // beside checkouts (built from parts, so this file does not match).
    let sibling = format!("{}/{}", "..", "shared");
    let grep = Command::new("git")
        .args(["grep", "-l", "-F", &sibling])
        .current_dir(&clone)
        .output()
        .expect("git grep");
    assert!(
        grep.stdout.is_empty(),
        "files point outside the repository:\n{}",
        String::from_utf8_lossy(&grep.stdout)
    );
    // The setup steps that fetch or build tools, in the clone alone (the
    // kube-apiserver build is cached outside the clone, under ~/.cache).
    let recipes = run(&clone, &just, &["--dry-run", "test"]);
    assert!(!recipes.contains(&sibling), "{recipes}");
    run(&clone, &just, &["setup-rust", "setup-node", "setup-kube"]);
}

fn which(program: &str) -> Result<String, ()> {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .find(|candidate| candidate.is_file())
        })
        .map(|p| p.display().to_string())
        .ok_or(())
}
