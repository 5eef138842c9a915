//! The request headers the core reads, picked out of Envoy's header map in
//! one host call.

use mcp_protocol::{headers, modern};

use crate::decision::{CredentialHeaders, RequestHead};

/// The request headers the core reads, owned so they outlive the callback.
#[derive(Default)]
pub(super) struct OwnedHead {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) authority: String,
    pub(super) session_id: Option<String>,
    pub(super) protocol_version: Option<String>,
    pub(super) content_length: Option<String>,
    pub(super) origin: Option<String>,
    pub(super) authorization: Option<String>,
    pub(super) identity: Option<String>,
    pub(super) credentials: CredentialHeaders,
    pub(super) mcp_method: Option<String>,
    pub(super) mcp_name: Option<String>,
}

impl OwnedHead {
    /// Picks the headers the core reads out of the full header list (one
    /// host call for all of them). Values that are not UTF-8 count as
    /// absent: every value the router reads is ASCII when valid (the broker
    /// applies the same rule to identities). A repeated header keeps its
    /// first value, as a single-header lookup would.
    pub(super) fn from_pairs(pairs: Vec<(String, Vec<u8>)>, identity_header: Option<&str>) -> Self {
        let mut head = OwnedHead::default();
        for (name, value) in pairs {
            head.credentials.note(&name);
            let Ok(value) = String::from_utf8(value) else {
                continue;
            };
            if identity_header == Some(name.as_str()) {
                _ = head.identity.get_or_insert(value);
                continue;
            }
            match name.as_str() {
                ":method" => head.method = value,
                ":path" => head.path = value,
                headers::AUTHORITY => head.authority = value,
                headers::SESSION_ID => _ = head.session_id.get_or_insert(value),
                headers::PROTOCOL_VERSION => _ = head.protocol_version.get_or_insert(value),
                "content-length" => _ = head.content_length.get_or_insert(value),
                headers::ORIGIN => _ = head.origin.get_or_insert(value),
                headers::AUTHORIZATION => _ = head.authorization.get_or_insert(value),
                modern::MCP_METHOD => _ = head.mcp_method.get_or_insert(value),
                modern::MCP_NAME => _ = head.mcp_name.get_or_insert(value),
                _ => {}
            }
        }
        head
    }

    pub(super) fn view(&self) -> RequestHead<'_> {
        RequestHead {
            method: &self.method,
            path: &self.path,
            session_id: self.session_id.as_deref(),
            protocol_version: self.protocol_version.as_deref(),
            content_length: self.content_length.as_deref(),
            authority: &self.authority,
            origin: self.origin.as_deref(),
            authorization: self.authorization.as_deref().map(str::as_bytes),
            identity: self.identity.as_deref().map(str::as_bytes),
            credentials: self.credentials,
            mcp_method: self.mcp_method.as_deref(),
            mcp_name: self.mcp_name.as_deref(),
        }
    }
}
