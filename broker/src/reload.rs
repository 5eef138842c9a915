//! Reloading the configuration file when it changes.
//!
//! The file's directory is watched (editors and Kubernetes ConfigMaps
//! replace files by rename, which a watch on the file itself would miss).
//! Events are debounced; a file that fails to load is reported and the
//! running configuration stays in force.

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
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let dir = path
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."));
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<()>();
    let target = path.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && event
                .paths
                .iter()
                .any(|p| p == &target || p.file_name() == target.file_name())
        {
            let _ = events_tx.send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;

    let (configs_tx, configs_rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut last = std::fs::read(&path).ok();
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
