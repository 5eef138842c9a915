//! What the test sends: a client [`Request`], and a [`Response`] from an
//! upstream or from the cluster an HTTP call went to.

use crate::headers::Headers;

/// A request from a client, as Envoy hands it to the filter.
#[derive(Debug, Clone)]
pub struct Request {
    pub(crate) head: Headers,
    pub(crate) body: Vec<u8>,
    pub(crate) trailers: Option<Headers>,
    /// Deliver the body in chunks of this many bytes (one chunk if None).
    pub(crate) chunk: Option<usize>,
    content_length: bool,
}

impl Request {
    /// A request with the four pseudo-headers Envoy always has.
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            head: Headers::from([
                (":method", method),
                (":scheme", "http"),
                (":path", path),
                (":authority", "gateway.local"),
            ]),
            body: Vec::new(),
            trailers: None,
            chunk: None,
            content_length: true,
        }
    }

    pub fn post(path: &str) -> Request {
        Request::new("POST", path)
    }

    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    pub fn delete(path: &str) -> Request {
        Request::new("DELETE", path)
    }

    /// Adds a header (a pseudo-header name replaces the default).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Request {
        if name.starts_with(':') {
            self.head.set(name, value);
        } else {
            self.head.add(name, value);
        }
        self
    }

    pub fn headers<'a>(mut self, headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Request {
        for (name, value) in headers {
            self = self.header(name, value);
        }
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Sends the body in chunks of `size` bytes, each a `on_request_body`.
    pub fn chunked(mut self, size: usize) -> Request {
        self.chunk = Some(size.max(1));
        self
    }

    pub fn trailers(mut self, trailers: Headers) -> Request {
        self.trailers = Some(trailers);
        self
    }

    /// Sends no `content-length` header (it is added by default when the
    /// body is not empty and none was given, as HTTP/1 clients do).
    pub fn without_content_length(mut self) -> Request {
        self.content_length = false;
        self
    }

    /// The headers as the filter receives them.
    pub(crate) fn headers_for_filter(&self) -> Headers {
        with_length(&self.head, &self.body, self.content_length)
    }

    pub(crate) fn body_chunks(&self) -> Vec<&[u8]> {
        match self.chunk {
            _ if self.body.is_empty() => Vec::new(),
            Some(size) => self.body.chunks(size).collect(),
            None => vec![self.body.as_slice()],
        }
    }
}

/// A response: from an upstream to a routed request, or from a cluster to
/// an HTTP call the filter dispatched.
#[derive(Debug, Clone)]
pub struct Response {
    pub(crate) head: Headers,
    pub(crate) body: Vec<u8>,
    pub(crate) trailers: Option<Headers>,
}

impl Response {
    pub fn status(status: u32) -> Response {
        Response {
            head: Headers::new().with(":status", status.to_string()),
            body: Vec::new(),
            trailers: None,
        }
    }

    pub fn ok() -> Response {
        Response::status(200)
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Response {
        if name.starts_with(':') {
            self.head.set(name, value);
        } else {
            self.head.add(name, value);
        }
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// A JSON body with its content type.
    pub fn json(self, body: &serde_json::Value) -> Response {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }

    pub fn trailers(mut self, trailers: Headers) -> Response {
        self.trailers = Some(trailers);
        self
    }

    pub(crate) fn headers_for_filter(&self) -> Headers {
        with_length(&self.head, &self.body, true)
    }
}

fn with_length(head: &Headers, body: &[u8], add: bool) -> Headers {
    let mut headers = head.clone();
    if add && !body.is_empty() && !headers.contains("content-length") {
        headers.add("content-length", body.len().to_string());
    }
    headers
}
