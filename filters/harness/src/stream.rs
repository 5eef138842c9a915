//! An HTTP stream through the filter, driven as Envoy drives it (with
//! `allow_on_headers_stop_iteration: true`): request headers, body chunks,
//! trailers, then the upstream's response the same way. A callback that
//! returns Pause holds everything at the filter (later body chunks are
//! still delivered and buffered, and the filter sees the whole buffered
//! body); Continue, or `proxy_continue_stream` later, lets it through.
//!
//! A local response ends the request path. Sent during the request, it is
//! then encoded through the filter's response callbacks, as Envoy's
//! `sendLocalReply` runs the encoder filter chain; sent during the
//! response, it replaces the upstream's response.

use crate::abi::{Action, StreamType};
use crate::error::{Error, Result};
use crate::headers::Headers;
use crate::record::{Callback, Forwarded};
use crate::state::{Deferred, Flow, HttpState};
use crate::vm::{Vm, VmCore};

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Request,
    Response,
}

/// One delivery to the filter.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Headers(Headers, bool),
    Body(Vec<u8>, bool),
    Trailers(Headers),
}

/// One request/response exchange through the filter (a stream context).
/// Clones refer to the same stream.
#[derive(Clone, Debug)]
pub struct HttpStream {
    pub(crate) vm: Vm,
    pub(crate) id: u32,
}

fn usage(detail: impl Into<String>) -> Error {
    Error::Usage {
        detail: detail.into(),
    }
}

fn flow_of(http: &mut HttpState, side: Side) -> &mut Flow {
    match side {
        Side::Request => &mut http.request,
        Side::Response => &mut http.response,
    }
}

pub(crate) fn http_mut(core: &mut VmCore, id: u32) -> Result<&mut HttpState> {
    core.state_mut()
        .contexts
        .get_mut(&id)
        .filter(|c| !c.deleted)
        .and_then(|c| c.http.as_mut())
        .ok_or_else(|| usage(format!("context {id} is not a live HTTP stream")))
}

/// Checks that the test may deliver `step` now, then delivers it.
pub(crate) fn drive(core: &mut VmCore, id: u32, side: Side, step: Step) -> Result<Action> {
    let http = http_mut(core, id)?;
    if http.reset {
        return Err(usage("the stream was reset by the filter"));
    }
    if http.local_response.is_some() {
        return Err(usage(
            "the filter already answered this stream with a local response",
        ));
    }
    if side == Side::Response && !http.request.headers_sent() {
        return Err(usage(
            "the upstream cannot answer: the filter still holds the request",
        ));
    }
    let flow = flow_of(http, side);
    let ok = match &step {
        Step::Headers(..) => !flow.headers_received,
        Step::Body(..) | Step::Trailers(..) => flow.headers_received && !flow.end_of_stream,
    };
    if !ok {
        return Err(usage(format!(
            "{side:?} {} out of order (headers received: {}, end of stream: {})",
            match step {
                Step::Headers(..) => "headers",
                Step::Body(..) => "body",
                Step::Trailers(..) => "trailers",
            },
            flow.headers_received,
            flow.end_of_stream
        )));
    }
    let action = deliver(core, id, side, step)?;
    settle(core)?;
    Ok(action)
}

/// Hands `step` to the filter and applies its answer.
fn deliver(core: &mut VmCore, id: u32, side: Side, step: Step) -> Result<Action> {
    let flow = flow_of(http_mut(core, id)?, side);
    let is_body = matches!(step, Step::Body(..));
    let (callback, raw) = match step {
        Step::Headers(headers, eos) => {
            let count = headers.len() as i32;
            flow.headers = headers;
            flow.headers_received = true;
            flow.end_of_stream = eos;
            let (callback, f) = match side {
                Side::Request => (
                    Callback::RequestHeaders,
                    core.exports.request_headers.clone(),
                ),
                Side::Response => (
                    Callback::ResponseHeaders,
                    core.exports.response_headers.clone(),
                ),
            };
            (
                callback,
                core.call(callback, id, id, &f, (id as i32, count, i32::from(eos)))?,
            )
        }
        Step::Body(chunk, eos) => {
            flow.buffered.extend_from_slice(&chunk);
            flow.received_body.extend_from_slice(&chunk);
            flow.end_of_stream = eos;
            let size = flow.buffered.len() as i32;
            let (callback, f) = match side {
                Side::Request => (Callback::RequestBody, core.exports.request_body.clone()),
                Side::Response => (Callback::ResponseBody, core.exports.response_body.clone()),
            };
            (
                callback,
                core.call(callback, id, id, &f, (id as i32, size, i32::from(eos)))?,
            )
        }
        Step::Trailers(trailers) => {
            let count = trailers.len() as i32;
            flow.trailers = Some(trailers);
            flow.end_of_stream = true;
            let (callback, f) = match side {
                Side::Request => (
                    Callback::RequestTrailers,
                    core.exports.request_trailers.clone(),
                ),
                Side::Response => (
                    Callback::ResponseTrailers,
                    core.exports.response_trailers.clone(),
                ),
            };
            (
                callback,
                core.call(callback, id, id, &f, (id as i32, count))?,
            )
        }
    };
    let action = match raw {
        None => Action::Continue,
        Some(value) => Action::from_raw(value).ok_or_else(|| Error::BadReturn {
            callback,
            value,
            log: core.log_tail(),
        })?,
    };
    core.note_action(id, action);
    let http = http_mut(core, id)?;
    // A local response sent now replaces what this callback would pass on.
    let replaced = match side {
        Side::Request => http.ended(),
        Side::Response => http.local_response.is_some() && !http.local_delivered,
    };
    if !replaced {
        match action {
            Action::Continue => forward(core, id, side)?,
            Action::Pause => {
                let flow = flow_of(http, side);
                flow.paused = true;
                flow.body_held |= is_body || !flow.buffered.is_empty();
            }
        }
    }
    Ok(action)
}

/// Lets everything held on `side` through, checking the result.
fn forward(core: &mut VmCore, id: u32, side: Side) -> Result<()> {
    let flow = flow_of(http_mut(core, id)?, side);
    flow.continue_iteration();
    let Some(sent) = flow.forwarded.as_ref().filter(|f| f.complete) else {
        return Ok(());
    };
    if !flow.body_changed {
        return Ok(());
    }
    let declared = sent.header("content-length").map(str::to_owned);
    let actual = sent.body.len();
    if let Some(declared) = declared
        && declared.trim().parse::<usize>().ok() != Some(actual)
    {
        let vm = core.state().vm;
        return Err(Error::Contract {
            vm,
            violations: vec![format!(
                "the filter rewrote the {side:?} body to {actual} bytes but left content-length: {declared}"
            )],
            log: core.log_tail(),
        });
    }
    Ok(())
}

/// Applies what the module asked for during the last callback (resume,
/// reset, finish), delivers local responses, and queue notifications.
pub(crate) fn settle(core: &mut VmCore) -> Result<()> {
    loop {
        let deferred = std::mem::take(&mut core.state_mut().deferred);
        let mut progressed = !deferred.is_empty();
        for action in deferred {
            match action {
                Deferred::Continue { context, stream } => resume(core, context, stream)?,
                Deferred::Close { context, .. } => {
                    if let Ok(http) = http_mut(core, context) {
                        http.reset = true;
                    }
                }
                Deferred::Done { context } => core.delete_context(context)?,
            }
        }
        let undelivered = core.state().contexts.iter().find_map(|(id, c)| {
            c.http
                .as_ref()
                .filter(|h| h.local_response.is_some() && !h.local_delivered && !c.deleted)
                .map(|_| *id)
        });
        if let Some(id) = undelivered {
            deliver_local_response(core, id)?;
            progressed = true;
        }
        let vm = core.state().vm;
        let root = core.state().active_root;
        for queue in core.state().shared.take_ready(vm) {
            let f = core.exports.queue_ready.clone();
            core.call(
                Callback::QueueReady,
                root,
                root,
                &f,
                (root as i32, queue as i32),
            )?;
            progressed = true;
        }
        if !progressed {
            return Ok(());
        }
    }
}

fn resume(core: &mut VmCore, id: u32, stream: StreamType) -> Result<()> {
    let side = match stream {
        StreamType::HttpRequest => Side::Request,
        _ => Side::Response,
    };
    let http = http_mut(core, id)?;
    if http.ended() && side == Side::Request {
        return Ok(());
    }
    if !flow_of(http, side).paused {
        let vm = core.state().vm;
        return Err(Error::Contract {
            vm,
            violations: vec![format!(
                "continue_stream({stream:?}) on context {id}, whose {side:?} was not paused"
            )],
            log: core.log_tail(),
        });
    }
    forward(core, id, side)
}

fn deliver_local_response(core: &mut VmCore, id: u32) -> Result<()> {
    let through_filter = core.state().env.local_reply_through_filter;
    let http = http_mut(core, id)?;
    http.local_delivered = true;
    let Some(local) = http.local_response.clone() else {
        return Ok(());
    };
    let mut headers = Headers::new().with(":status", local.status.to_string());
    for (name, value) in local.headers.iter() {
        headers.add(name, value);
    }
    if !local.body.is_empty() {
        if !headers.contains("content-type") {
            headers.add("content-type", "text/plain");
        }
        headers.set("content-length", local.body.len().to_string());
    }
    let request_phase = !http.response.headers_received;
    if !(through_filter && request_phase) {
        http.response.forwarded = Some(Forwarded {
            headers,
            body: local.body,
            trailers: None,
            complete: true,
        });
        return Ok(());
    }
    let eos = local.body.is_empty();
    deliver(core, id, Side::Response, Step::Headers(headers, eos))?;
    if !eos {
        deliver(core, id, Side::Response, Step::Body(local.body, true))?;
    }
    Ok(())
}
