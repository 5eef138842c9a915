//! Reloading the configuration file when it changes.
//!
//! The file's directory is watched (editors replace files by rename, and
//! Kubernetes Secret and ConfigMap volumes swap a `..data` symlink; a watch
//! on the file itself would miss both). Events are debounced and the file is
//! re-read; only changed bytes count. A file that fails to load is reported
//! and the running configuration stays in force.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::config::GatewayConfig;

/// Watches `path`; each time it changes and loads cleanly, the new
/// configuration is sent on the returned channel. The watcher lives as long
/// as the returned guard.
///
/// # Errors
/// The watcher could not be created or the directory watched.
pub fn watch(
    path: &Path,
) -> notify::Result<(notify::RecommendedWatcher, mpsc::Receiver<GatewayConfig>)> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let dir = path
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."));
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<()>();
    // Any event in the directory counts: a Kubernetes Secret or ConfigMap
    // volume swaps a `..data` symlink and never touches the file's own
    // name. Whether the file really changed is decided by its bytes.
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = events_tx.send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;

    let (configs_tx, configs_rx) = mpsc::channel(4);
    // Read now, not in the task: a change made right after this call
    // returns must count as a change.
    let mut last = std::fs::read(&path).ok();
    tokio::spawn(async move {
        while events_rx.recv().await.is_some() {
            // Debounce: writers often touch the file several times.
            tokio::time::sleep(Duration::from_millis(200)).await;
            while events_rx.try_recv().is_ok() {}
            let current = std::fs::read(&path).ok();
            if current.is_none() || current == last {
                continue;
            }
            last = current;
            match GatewayConfig::load(&path) {
                Ok(config) => {
                    tracing::info!(file = %path.display(), "configuration changed; applying");
                    if configs_tx.send(config).await.is_err() {
                        return;
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "configuration change rejected; keeping the running configuration");
                }
            }
        }
    });
    Ok((watcher, configs_rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    fn config(port: u16) -> String {
        format!("listen: 127.0.0.1:{port}\nrouterAuthentication: {{ mode: mesh }}\n")
    }

    #[tokio::test]
    async fn a_rewritten_file_is_reloaded_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gateway.yaml");
        std::fs::write(&path, config(1001)).expect("write");
        let (_watcher, mut configs) = watch(&path).expect("watch");

        std::fs::write(&path, "servers: [ {name: -bad} ]\n").expect("write broken");
        std::fs::write(dir.path().join("gateway.yaml.tmp"), config(1002)).expect("write");
        std::fs::rename(dir.path().join("gateway.yaml.tmp"), &path).expect("rename");
        let reloaded = tokio::time::timeout(WAIT, configs.recv())
            .await
            .expect("reloaded in time")
            .expect("channel open");
        assert_eq!(reloaded.listen.port(), 1002);
    }

    /// Kubernetes mounts a Secret as `gateway.yaml -> ..data/gateway.yaml`,
    /// `..data -> ..<timestamp>`, and updates it by swapping `..data`.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_kubernetes_style_symlink_swap_is_reloaded() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().expect("temp dir");
        let first = dir.path().join("..2026_01");
        std::fs::create_dir(&first).expect("mkdir");
        std::fs::write(first.join("gateway.yaml"), config(2001)).expect("write");
        symlink("..2026_01", dir.path().join("..data")).expect("symlink");
        symlink("..data/gateway.yaml", dir.path().join("gateway.yaml")).expect("symlink");
        let (_watcher, mut configs) = watch(&dir.path().join("gateway.yaml")).expect("watch");

        let second = dir.path().join("..2026_02");
        std::fs::create_dir(&second).expect("mkdir");
        std::fs::write(second.join("gateway.yaml"), config(2002)).expect("write");
        symlink("..2026_02", dir.path().join("..data_tmp")).expect("symlink");
        std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).expect("swap");

        let reloaded = tokio::time::timeout(WAIT, configs.recv())
            .await
            .expect("reloaded in time")
            .expect("channel open");
        assert_eq!(reloaded.listen.port(), 2002);
    }
}
