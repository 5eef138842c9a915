//! Assertions on a stream that read like the behaviour they check:
//! `stream.expect_forwarded().expect_upstream_header(":path", "/mcp")`.
//! A failed expectation panics with what the stream did and what the
//! module logged, so the test output explains itself.

use std::fmt::Write;

use crate::abi::Action;
use crate::record::{Callback, DispatchedCall, Event, LocalResponse};
use crate::stream::HttpStream;

impl HttpStream {
    /// A readable account of the stream: actions, local response,
    /// forwarded messages, calls, and the module's log on this VM.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "stream {} on VM {}:", self.id(), self.vm().index());
        for event in self.events() {
            match event {
                Event::Returned {
                    callback, action, ..
                } => {
                    let _ = writeln!(out, "  {callback} -> {action:?}");
                }
                Event::Log(_) => {}
                other => {
                    let _ = writeln!(out, "  {}", summary(&other));
                }
            }
        }
        match self.upstream_request() {
            Some(up) => {
                let _ = writeln!(
                    out,
                    "upstream request (complete: {}):\n{}  body: {}",
                    up.complete,
                    up.headers,
                    up.body_str()
                );
            }
            None => out.push_str("nothing reached the upstream\n"),
        }
        if let Some(down) = self.downstream_response() {
            let _ = writeln!(
                out,
                "downstream response:\n{}  body: {}",
                down.headers,
                down.body_str()
            );
        }
        out.push_str("module log:\n");
        for line in self.vm().logs().iter().rev().take(30).rev() {
            let _ = writeln!(out, "  {line}");
        }
        out
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        panic!("expectation failed: {what}\n{}", self.describe())
    }

    /// The whole request went to the upstream, and the filter did not
    /// answer it.
    #[track_caller]
    pub fn expect_forwarded(&self) -> &Self {
        if self.local_response().is_some() {
            self.fail("the request should reach the upstream, but the filter answered it");
        }
        if !self.upstream_request().is_some_and(|r| r.complete) {
            self.fail("the request should reach the upstream completely");
        }
        self
    }

    /// The filter holds the request: not forwarded, not answered.
    #[track_caller]
    pub fn expect_held(&self) -> &Self {
        if !self.request_held() {
            self.fail("the filter should hold the request");
        }
        self
    }

    #[track_caller]
    pub fn expect_upstream_header(&self, name: &str, value: &str) -> &Self {
        let found = self
            .upstream_request()
            .and_then(|r| r.header(name).map(str::to_owned));
        if found.as_deref() != Some(value) {
            self.fail(&format!(
                "upstream header {name} should be {value:?}, found {found:?}"
            ));
        }
        self
    }

    #[track_caller]
    pub fn expect_no_upstream_header(&self, name: &str) -> &Self {
        if let Some(value) = self
            .upstream_request()
            .and_then(|r| r.headers.get(name).map(<[u8]>::to_vec))
        {
            self.fail(&format!(
                "upstream header {name} should be absent, found {:?}",
                String::from_utf8_lossy(&value)
            ));
        }
        self
    }

    /// The upstream received exactly these body bytes.
    #[track_caller]
    pub fn expect_upstream_body(&self, body: impl AsRef<[u8]>) -> &Self {
        let sent = self.upstream_request().map(|r| r.body).unwrap_or_default();
        if sent != body.as_ref() {
            self.fail(&format!(
                "upstream body should be\n  {}\nfound\n  {}",
                String::from_utf8_lossy(body.as_ref()),
                String::from_utf8_lossy(&sent)
            ));
        }
        self
    }

    /// The filter answered with `status`.
    #[track_caller]
    pub fn expect_local_response(&self, status: u32) -> LocalResponse {
        match self.local_response() {
            Some(local) if local.status == status => local,
            Some(local) => self.fail(&format!(
                "the local response should have status {status}, not {}",
                local.status
            )),
            None => self.fail(&format!(
                "the filter should answer with a {status} local response"
            )),
        }
    }

    /// The client received this status.
    #[track_caller]
    pub fn expect_downstream_status(&self, status: u32) -> &Self {
        let found = self
            .downstream_response()
            .and_then(|r| r.header(":status").map(str::to_owned));
        if found.as_deref() != Some(status.to_string().as_str()) {
            self.fail(&format!(
                "the client should receive status {status}, found {found:?}"
            ));
        }
        self
    }

    #[track_caller]
    pub fn expect_downstream_header(&self, name: &str, value: Option<&str>) -> &Self {
        let found = self
            .downstream_response()
            .and_then(|r| r.header(name).map(str::to_owned));
        if found.as_deref() != value {
            self.fail(&format!(
                "downstream header {name} should be {value:?}, found {found:?}"
            ));
        }
        self
    }

    /// The stream dispatched exactly one HTTP call still pending, to
    /// `cluster`; returns it so the test can answer it.
    #[track_caller]
    pub fn expect_call_to(&self, cluster: &str) -> DispatchedCall {
        let pending = self.pending_calls();
        match pending.as_slice() {
            [call] if call.cluster == cluster => call.clone(),
            _ => self.fail(&format!(
                "one pending HTTP call to {cluster:?} expected, found {:?}",
                pending
                    .iter()
                    .map(|c| c.cluster.as_str())
                    .collect::<Vec<_>>()
            )),
        }
    }

    #[track_caller]
    pub fn expect_no_calls(&self) -> &Self {
        if !self.calls().is_empty() {
            self.fail("the stream should dispatch no HTTP call");
        }
        self
    }

    /// The last time `callback` ran, it returned `action`.
    #[track_caller]
    pub fn expect_action(&self, callback: Callback, action: Action) -> &Self {
        let last = self
            .actions()
            .into_iter()
            .rev()
            .find(|(c, _)| *c == callback)
            .map(|(_, a)| a);
        if last != Some(action) {
            self.fail(&format!(
                "{callback} should return {action:?}, returned {last:?}"
            ));
        }
        self
    }

    /// Some line the module logged on this VM contains `needle`.
    #[track_caller]
    pub fn expect_log(&self, needle: &str) -> &Self {
        if !self.vm().logs().iter().any(|l| l.message.contains(needle)) {
            self.fail(&format!("the module should log {needle:?}"));
        }
        self
    }
}

/// Bytes shown as text, cut short.
fn text(bytes: &[u8]) -> String {
    const MAX: usize = 160;
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]).into_owned();
    if bytes.len() > MAX {
        format!("{shown:?}... ({} bytes)", bytes.len())
    } else {
        format!("{shown:?}")
    }
}

/// One event on one line.
fn summary(event: &Event) -> String {
    match event {
        Event::HeaderReplaced { map, name, value } => {
            format!("{map:?} set {name}: {}", text(value))
        }
        Event::HeaderAdded { map, name, value } => format!("{map:?} add {name}: {}", text(value)),
        Event::HeaderRemoved { map, name } => format!("{map:?} remove {name}"),
        Event::HeadersReplaced { map, headers } => {
            format!("{map:?} replaced by {} entries", headers.len())
        }
        Event::BodyChanged {
            buffer,
            start,
            size,
            data,
        } => {
            format!("{buffer:?} [{start}..+{size}] <- {}", text(data))
        }
        Event::LocalResponse(local) => {
            format!("local response {} {}", local.status, text(&local.body))
        }
        Event::HttpCall(call) => format!(
            "http call #{} to {} {} {}",
            call.token,
            call.cluster,
            call.header(":path").unwrap_or_default(),
            text(&call.body)
        ),
        other => format!("{other:?}"),
    }
}
