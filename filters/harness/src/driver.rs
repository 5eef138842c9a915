//! The test's side of the lifecycle: what a test does to a VM (start a
//! request, answer an HTTP call, tick, reconfigure) and to a stream (send
//! headers, body, trailers; answer as the upstream; end it), and what it
//! can read back.

use std::cell::RefMut;

use crate::abi::Action;
use crate::error::{Error, Result};
use crate::headers::Headers;
use crate::message::{Request, Response};
use crate::record::{Callback, DispatchedCall, Event, Forwarded, LocalResponse, LogEntry};
use crate::state::{CallResponseData, Context, HttpState};
use crate::stream::{self, HttpStream, Side, Step};
use crate::vm::{Vm, VmCore};

fn usage(detail: impl Into<String>) -> Error {
    Error::Usage {
        detail: detail.into(),
    }
}

impl Vm {
    fn core(&self) -> RefMut<'_, crate::vm::VmCore> {
        self.core.borrow_mut()
    }

    /// Creates a stream context under the active root context
    /// (`proxy_on_context_create`).
    pub fn new_stream(&self) -> Result<HttpStream> {
        let mut core = self.core();
        let root = core.state().active_root;
        let id = core.state_mut().alloc_context_id();
        core.state_mut().contexts.insert(
            id,
            Context {
                parent: root,
                http: Some(HttpState::default()),
                ..Context::default()
            },
        );
        let f = core.exports.context_create.clone();
        core.call(
            Callback::ContextCreate,
            id,
            id,
            &f,
            (id as i32, root as i32),
        )?;
        stream::settle(&mut core)?;
        Ok(HttpStream {
            vm: self.clone(),
            id,
        })
    }

    /// Sends a whole client request on a new stream: headers, then the
    /// body (in chunks if asked), then trailers, stopping early if the
    /// filter answers or resets it.
    pub fn send(&self, request: &Request) -> Result<HttpStream> {
        let stream = self.new_stream()?;
        stream.send(request)?;
        Ok(stream)
    }

    /// Answers the pending HTTP call `token` with `response`
    /// (`proxy_on_http_call_response` on the root context).
    pub fn answer(&self, token: u32, response: &Response) -> Result<()> {
        let data = CallResponseData {
            headers: response.headers_for_filter(),
            body: response.body.clone(),
            trailers: response.trailers.clone().unwrap_or_default(),
        };
        self.complete_call(token, Some(data))
    }

    /// Fails the pending HTTP call `token` (timeout or reset): the module
    /// is called back with no headers and no body, as Envoy does.
    pub fn fail_call(&self, token: u32) -> Result<()> {
        self.complete_call(token, None)
    }

    fn complete_call(&self, token: u32, data: Option<CallResponseData>) -> Result<()> {
        let mut core = self.core();
        let call = core
            .state_mut()
            .calls
            .remove(&token)
            .ok_or_else(|| usage(format!("no pending HTTP call with token {token}")))?;
        let state = core.state_mut();
        let root = match state.contexts.get(&call.context) {
            Some(c) if c.parent != 0 => c.parent,
            _ => call.context,
        };
        let (headers, body, trailers) = data.as_ref().map_or((0, 0, 0), |d| {
            (d.headers.len(), d.body.len(), d.trailers.len())
        });
        state.status = match &data {
            Some(_) => (0, Vec::new()),
            None => (14, b"upstream request timeout or reset".to_vec()),
        };
        state.call_response = data;
        let f = core.exports.http_call_response.clone();
        let result = core.call(
            Callback::HttpCallResponse,
            root,
            call.context,
            &f,
            (
                root as i32,
                token as i32,
                headers as i32,
                body as i32,
                trailers as i32,
            ),
        );
        core.state_mut().call_response = None;
        result?;
        stream::settle(&mut core)
    }

    /// Fires the tick timer once (`proxy_on_tick` on the active root).
    pub fn tick(&self) -> Result<()> {
        let mut core = self.core();
        let root = core.state().active_root;
        let f = core.exports.tick.clone();
        core.call(Callback::Tick, root, root, &f, root as i32)?;
        stream::settle(&mut core)
    }

    /// Delivers pending `proxy_on_queue_ready` notifications for this VM.
    pub fn deliver_queue_notifications(&self) -> Result<()> {
        stream::settle(&mut self.core())
    }

    /// Calls `on_configure` again on the active root context with a new
    /// configuration; returns what the module answered.
    pub fn reconfigure(&self, plugin_config: &[u8]) -> Result<bool> {
        let mut core = self.core();
        let root = core.state().active_root;
        let accepted = core.configure(root, plugin_config)?;
        stream::settle(&mut core)?;
        Ok(accepted)
    }

    /// Envoy's way of applying a new plugin configuration (an ECDS
    /// update): a new root context in the same VM, started and configured.
    /// If the module accepts it, new streams use it and the old root is
    /// retired once its streams are gone; if not, the new root is removed
    /// and the old one stays in force.
    pub fn push_config(&self, vm_config: &[u8], plugin_config: &[u8]) -> Result<bool> {
        let mut core = self.core();
        let old = core.state().active_root;
        let (id, accepted) = core.start_root(vm_config, plugin_config)?;
        if accepted {
            core.state_mut().active_root = id;
            core.state_mut().retired.insert(old);
            retire_idle_roots(&mut core)?;
        } else {
            core.finish_context(id)?;
        }
        stream::settle(&mut core)?;
        Ok(accepted)
    }
}

/// Finishes retired root contexts that no live stream uses any more.
fn retire_idle_roots(core: &mut VmCore) -> Result<()> {
    let state = core.state();
    let idle: Vec<u32> = state
        .retired
        .iter()
        .copied()
        .filter(|root| {
            !state
                .contexts
                .values()
                .any(|c| c.parent == *root && !c.deleted)
        })
        .collect();
    for root in idle {
        core.state_mut().retired.remove(&root);
        core.finish_context(root)?;
    }
    Ok(())
}

impl HttpStream {
    /// The stream's context id.
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    fn drive(&self, side: Side, step: Step) -> Result<Action> {
        stream::drive(&mut self.vm.core.borrow_mut(), self.id, side, step)
    }

    fn read<R>(&self, f: impl FnOnce(&HttpState) -> R) -> Option<R> {
        let core = self.vm.core.borrow();
        core.state()
            .contexts
            .get(&self.id)
            .and_then(|c| c.http.as_ref())
            .map(f)
    }

    /// `proxy_on_request_headers`.
    pub fn send_request_headers(&self, headers: Headers, end_of_stream: bool) -> Result<Action> {
        self.drive(Side::Request, Step::Headers(headers, end_of_stream))
    }

    /// `proxy_on_request_body` with one more chunk.
    pub fn send_request_body(&self, chunk: &[u8], end_of_stream: bool) -> Result<Action> {
        self.drive(Side::Request, Step::Body(chunk.to_vec(), end_of_stream))
    }

    /// `proxy_on_request_trailers` (ends the request).
    pub fn send_request_trailers(&self, trailers: Headers) -> Result<Action> {
        self.drive(Side::Request, Step::Trailers(trailers))
    }

    /// `proxy_on_response_headers`.
    pub fn send_response_headers(&self, headers: Headers, end_of_stream: bool) -> Result<Action> {
        self.drive(Side::Response, Step::Headers(headers, end_of_stream))
    }

    /// `proxy_on_response_body` with one more chunk.
    pub fn send_response_body(&self, chunk: &[u8], end_of_stream: bool) -> Result<Action> {
        self.drive(Side::Response, Step::Body(chunk.to_vec(), end_of_stream))
    }

    /// `proxy_on_response_trailers` (ends the response).
    pub fn send_response_trailers(&self, trailers: Headers) -> Result<Action> {
        self.drive(Side::Response, Step::Trailers(trailers))
    }

    /// Sends a whole request on this (fresh) stream.
    pub fn send(&self, request: &Request) -> Result<()> {
        let chunks = request.body_chunks();
        let trailers = request.trailers.clone();
        let headers_end = chunks.is_empty() && trailers.is_none();
        self.send_request_headers(request.headers_for_filter(), headers_end)?;
        let last = chunks.len().saturating_sub(1);
        for (index, chunk) in chunks.iter().enumerate() {
            if self.ended() {
                return Ok(());
            }
            self.send_request_body(chunk, index == last && trailers.is_none())?;
        }
        if let Some(trailers) = trailers
            && !self.ended()
        {
            self.send_request_trailers(trailers)?;
        }
        Ok(())
    }

    /// Answers as the upstream: response headers, body, trailers.
    pub fn respond(&self, response: &Response) -> Result<()> {
        let end = response.body.is_empty() && response.trailers.is_none();
        self.send_response_headers(response.headers_for_filter(), end)?;
        if !response.body.is_empty() && !self.ended() {
            self.send_response_body(&response.body, response.trailers.is_none())?;
        }
        if let Some(trailers) = &response.trailers
            && !self.ended()
        {
            self.send_response_trailers(trailers.clone())?;
        }
        Ok(())
    }

    /// Ends the stream: `proxy_on_done`, `proxy_on_log`, `proxy_on_delete`
    /// (the last two after `proxy_done` if the module asks to wait).
    pub fn finish(&self) -> Result<()> {
        let mut core = self.vm.core.borrow_mut();
        core.finish_context(self.id)?;
        stream::settle(&mut core)?;
        retire_idle_roots(&mut core)
    }

    /// The filter answered or reset the stream.
    pub fn ended(&self) -> bool {
        self.read(HttpState::ended).unwrap_or(true)
    }

    /// The request is held at the filter: neither passed on completely nor
    /// answered.
    pub fn request_held(&self) -> bool {
        self.read(|h| !h.ended() && !h.request.complete())
            .unwrap_or(false)
    }

    /// What reached the upstream, if anything did.
    pub fn upstream_request(&self) -> Option<Forwarded> {
        self.read(|h| h.request.forwarded.clone()).flatten()
    }

    /// What reached the client, if anything did.
    pub fn downstream_response(&self) -> Option<Forwarded> {
        self.read(|h| h.response.forwarded.clone()).flatten()
    }

    /// The local response the filter sent, if it sent one.
    pub fn local_response(&self) -> Option<LocalResponse> {
        self.read(|h| h.local_response.clone()).flatten()
    }

    /// The request headers as the filter left them (forwarded or not).
    pub fn request_headers(&self) -> Headers {
        self.read(|h| h.request.headers.clone()).unwrap_or_default()
    }

    /// Whether the filter reset the stream (`proxy_close_stream`).
    pub fn was_reset(&self) -> bool {
        self.read(|h| h.reset).unwrap_or(false)
    }

    /// This stream's record.
    pub fn events(&self) -> Vec<Event> {
        self.vm.events(self.id)
    }

    /// The actions the HTTP callbacks returned, in order.
    pub fn actions(&self) -> Vec<(Callback, Action)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Returned {
                    callback,
                    action: Some(action),
                    ..
                } => Some((callback, action)),
                _ => None,
            })
            .collect()
    }

    /// Every HTTP call this stream dispatched, answered or not.
    pub fn calls(&self) -> Vec<DispatchedCall> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::HttpCall(call) => Some(call),
                _ => None,
            })
            .collect()
    }

    /// This stream's calls still waiting for an answer.
    pub fn pending_calls(&self) -> Vec<DispatchedCall> {
        let core = self.vm.core.borrow();
        core.state()
            .calls
            .values()
            .filter(|c| c.context == self.id)
            .cloned()
            .collect()
    }

    /// Lines the module logged in this stream's context.
    pub fn logs(&self) -> Vec<LogEntry> {
        self.vm
            .logs()
            .into_iter()
            .filter(|l| l.context == self.id)
            .collect()
    }

    /// Wasm instructions spent on this stream so far (its callbacks and
    /// the HTTP call responses it received).
    pub fn fuel(&self) -> u64 {
        self.vm.context_fuel(self.id)
    }

    /// Host functions this stream's callbacks called so far.
    pub fn host_calls(&self) -> u64 {
        self.vm.context_host_calls(self.id)
    }
}
