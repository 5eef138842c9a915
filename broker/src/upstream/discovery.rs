//! Discovery of one upstream's catalogue (tools, prompts, resources,
//! resource templates), as its MCP client, for as long as the upstream is
//! configured.
//!
//! Connect (`initialize`), list every kind the upstream declares (following
//! `nextCursor`), then re-list a kind on its `notifications/*/list_changed`
//! (read from the session's GET stream) or everything every refresh
//! interval (the backstop, and the health check). A failure marks the
//! upstream down and withdraws its catalogue; reconnection backs off from
//! 1 s up to the refresh interval. Definitions are kept as the upstream
//! sent them ([`Definition`]); a malformed one is left out with its reason.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use router_config::Entry;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{ClientError, Connection};
use super::{
    CacheHint, Capabilities, Definition, Health, PerEntry, Rejected, UpstreamSpec, UpstreamState,
};
use crate::catalog::Catalog;
use mcp_protocol::versions::Era;

/// Timing and rules of discovery.
#[derive(Debug, Clone)]
pub struct DiscoveryTiming {
    pub refresh_interval: Duration,
    pub request_timeout: Duration,
    /// The oldest protocol version an upstream may agree to.
    pub min_protocol_version: String,
}

/// The pages one list may take at most (a misbehaving upstream's cursor
/// could go on for ever).
const MAX_PAGES: usize = 1000;

/// What discovery declares: every client feature a server can use, so the
/// upstream reveals everything it offers (some list more tools to clients
/// that can sample, elicit by URL or give roots). A session whose client
/// declared less may find such a tool refused by its upstream.
pub fn discovery_capabilities() -> serde_json::Value {
    serde_json::json!({
        "sampling": { "context": {}, "tools": {} },
        "elicitation": { "form": {}, "url": {} },
        "roots": { "listChanged": true }
    })
}

/// The list method and result member of each kind.
pub fn list_method(entry: Entry) -> (&'static str, &'static str) {
    match entry {
        Entry::Tool => (mcp_protocol::methods::TOOLS_LIST, "tools"),
        Entry::Prompt => (mcp_protocol::methods::PROMPTS_LIST, "prompts"),
        Entry::Resource => (mcp_protocol::methods::RESOURCES_LIST, "resources"),
        Entry::ResourceTemplate => (
            mcp_protocol::methods::RESOURCES_TEMPLATES_LIST,
            "resourceTemplates",
        ),
    }
}

/// The kinds a `notifications/*/list_changed` method announces.
fn changed_kinds(method: &str) -> &'static [Entry] {
    match method {
        mcp_protocol::methods::NOTIFICATION_TOOLS_LIST_CHANGED => &[Entry::Tool],
        mcp_protocol::methods::NOTIFICATION_PROMPTS_LIST_CHANGED => &[Entry::Prompt],
        mcp_protocol::methods::NOTIFICATION_RESOURCES_LIST_CHANGED => {
            &[Entry::Resource, Entry::ResourceTemplate]
        }
        _ => &[],
    }
}

/// Runs discovery of `spec` until `cancel` fires, publishing every change
/// of its state to `catalog`.
pub async fn run(
    spec: Arc<UpstreamSpec>,
    http: reqwest::Client,
    timing: DiscoveryTiming,
    catalog: Arc<Catalog>,
    cancel: CancellationToken,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        match super::era::connect(&http, &spec, &timing).await {
            Ok((connection, era)) => {
                backoff = Duration::from_secs(1);
                tracing::info!(server = %spec.name, url = %spec.url, ?era, "connected to upstream");
                let stop = watch(&spec, &connection, era, &timing, &catalog, &cancel).await;
                connection.close(Duration::from_secs(2)).await;
                if stop {
                    return;
                }
            }
            Err(error) => {
                tracing::warn!(server = %spec.name, url = %spec.url, %error, "cannot connect to upstream");
                catalog.publish(&spec.name, down(error));
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = cancel.cancelled() => return,
        }
        backoff = (backoff * 2).min(timing.refresh_interval);
    }
}

/// Lists the catalogue until the upstream fails (`false`) or discovery is
/// cancelled (`true`).
async fn watch(
    spec: &UpstreamSpec,
    connection: &Connection,
    era: router_config::ServerEra,
    timing: &DiscoveryTiming,
    catalog: &Catalog,
    cancel: &CancellationToken,
) -> bool {
    let capabilities = Capabilities::of_initialize_result(connection.initialize_result.get());
    // `serverInfo` of `initialize`, or the result `_meta` of `server/discover`.
    let server_info = serde_json::from_str::<serde_json::Value>(connection.initialize_result.get())
        .ok()
        .and_then(|v| {
            v.get("serverInfo")
                .or_else(|| {
                    v.pointer("/_meta")
                        .and_then(|m| m.get(mcp_protocol::modern::META_SERVER_INFO))
                })
                .cloned()
        });
    // `list_changed` notifications arrive on the session's GET stream, or
    // a stateless-era upstream's `subscriptions/listen`.
    let (changed_tx, mut changed) = mpsc::channel::<Entry>(16);
    let events = match connection.era {
        Era::Modern => super::era::listen_for_lists(connection).await,
        Era::Handshake => connection.listen().await,
    };
    let listener = match events {
        Ok(Some(mut events)) => Some(tokio::spawn(async move {
            while let Some(data) = events.next().await {
                let method = serde_json::from_str::<serde_json::Value>(&data)
                    .ok()
                    .and_then(|v| v["method"].as_str().map(str::to_owned));
                for kind in method.as_deref().map_or(&[][..], changed_kinds) {
                    if changed_tx.send(*kind).await.is_err() {
                        return;
                    }
                }
            }
        })),
        // No GET stream: the refresh timer alone keeps the catalogue fresh.
        Ok(None) | Err(_) => None,
    };
    let mut state = UpstreamState {
        health: Health::Ready,
        era,
        capabilities,
        protocol_version: Some(connection.protocol_version.clone()),
        server_info,
        ..UpstreamState::connecting()
    };
    let mut stale: Vec<Entry> = Entry::ALL.to_vec();
    let stop = loop {
        for entry in stale.drain(..) {
            if !capabilities.offers(entry) {
                continue;
            }
            match tokio::time::timeout(timing.request_timeout, list_all(connection, entry)).await {
                // Some servers declare `resources` but implement only one of
                // its two lists: the other is empty, not a failure.
                Ok(Err(ClientError::Refused { code, .. }))
                    if code == i64::from(mcp_protocol::ErrorCode::MethodNotFound.code()) =>
                {
                    state.catalog.get_mut(entry).clear();
                }
                Ok(Ok((raw, hint))) => {
                    *state.cache.get_mut(entry) = hint;
                    let (definitions, rejected) = definitions(entry, raw);
                    *state.catalog.get_mut(entry) = definitions;
                    state.rejected.retain(|r| r.entry != entry);
                    state.rejected.extend(rejected);
                }
                Ok(Err(error)) => {
                    let (method, _) = list_method(entry);
                    tracing::warn!(server = %spec.name, %error, "{method} failed; upstream marked down");
                    catalog.publish(&spec.name, down(format!("{method} failed: {error}")));
                    if let Some(listener) = listener {
                        listener.abort();
                    }
                    return false;
                }
                Err(_) => {
                    let (method, _) = list_method(entry);
                    tracing::warn!(server = %spec.name, "{method} timed out; upstream marked down");
                    catalog.publish(
                        &spec.name,
                        down(format!(
                            "{method} timed out after {:?}",
                            timing.request_timeout
                        )),
                    );
                    if let Some(listener) = listener {
                        listener.abort();
                    }
                    return false;
                }
            }
        }
        state.last_change = SystemTime::now();
        catalog.publish(&spec.name, state.clone());
        tokio::select! {
            Some(entry) = changed.recv() => {
                tracing::info!(server = %spec.name, "{} list_changed received", entry.noun());
                stale.push(entry);
            }
            () = tokio::time::sleep(timing.refresh_interval) => stale = Entry::ALL.to_vec(),
            () = cancel.cancelled() => break true,
        }
    };
    if let Some(listener) = listener {
        listener.abort();
    }
    stop
}

/// Every definition of `entry`'s kind, following `nextCursor`, and the
/// caching hints of its pages (the shortest time; private if any is).
async fn list_all(
    connection: &Connection,
    entry: Entry,
) -> Result<(Vec<Box<RawValue>>, CacheHint), ClientError> {
    let (method, member) = list_method(entry);
    let mut all = Vec::new();
    let mut hint: Option<CacheHint> = None;
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = match &cursor {
            Some(cursor) => serde_json::json!({ "cursor": cursor }),
            None => serde_json::Value::Null,
        };
        let result = connection.request(method, &params).await?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            next_cursor: Option<String>,
            #[serde(default)]
            ttl_ms: Option<u64>,
            #[serde(default)]
            cache_scope: Option<String>,
        }
        let items =
            serde_json::from_str::<std::collections::HashMap<String, Box<RawValue>>>(result.get())
                .ok()
                .and_then(|mut members| members.remove(member))
                .and_then(|items| serde_json::from_str::<Vec<Box<RawValue>>>(items.get()).ok())
                .ok_or_else(|| ClientError::Malformed {
                    method: method.to_owned(),
                    detail: format!("no {member:?} list"),
                })?;
        all.extend(items);
        let page = serde_json::from_str::<Page>(result.get()).ok();
        let page_hint = CacheHint {
            ttl_ms: page.as_ref().and_then(|p| p.ttl_ms),
            private: page
                .as_ref()
                .and_then(|p| p.cache_scope.as_deref())
                .is_some_and(|scope| scope == "private"),
        };
        hint = Some(hint.map_or(page_hint, |h| h.combine(page_hint)));
        cursor = page.and_then(|p| p.next_cursor).filter(|c| !c.is_empty());
        if cursor.is_none() {
            return Ok((all, hint.unwrap_or_default()));
        }
    }
    Err(ClientError::Malformed {
        method: method.to_owned(),
        detail: format!("more than {MAX_PAGES} pages"),
    })
}

/// The well-formed definitions, and why the others were left out.
fn definitions(entry: Entry, raw: Vec<Box<RawValue>>) -> (Vec<Definition>, Vec<Rejected>) {
    let mut kept = Vec::with_capacity(raw.len());
    let mut rejected = Vec::new();
    for item in raw {
        match Definition::parse(entry, item.get()) {
            Ok(definition) => kept.push(definition),
            Err(reason) => rejected.push(Rejected {
                entry,
                name: item.get().chars().take(80).collect(),
                reason,
            }),
        }
    }
    (kept, rejected)
}

fn down(error: String) -> UpstreamState {
    UpstreamState {
        health: Health::Down,
        last_error: Some(error),
        ..UpstreamState::connecting()
    }
}

/// The declared capabilities an upstream must have for each kind; kept
/// for `/status` readers: a kind it does not declare is not listed.
pub fn offered(capabilities: &Capabilities) -> PerEntry<bool> {
    PerEntry {
        tool: capabilities.offers(Entry::Tool),
        prompt: capabilities.offers(Entry::Prompt),
        resource: capabilities.offers(Entry::Resource),
        resource_template: capabilities.offers(Entry::ResourceTemplate),
    }
}
