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
    pub(super) virtual_server: Option<String>,
    pub(super) claims: Option<String>,
    pub(super) authorized: Option<String>,
    pub(super) now: u64,
}

impl OwnedHead {
    /// Picks the headers the core reads out of the full header list (one
    /// host call for all of them, borrowed from its buffer: only the values
    /// kept are copied). Names and values that are not UTF-8 count as
    /// absent: every name and value the router reads is ASCII when valid
    /// (the broker applies the same rule to identities). A repeated header
    /// keeps its first value, as a single-header lookup would.
    pub(super) fn from_pairs<'a>(
        pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        identity_header: Option<&str>,
        claims_header: Option<&str>,
    ) -> Self {
        let mut head = OwnedHead::default();
        for (name, value) in pairs {
            let Ok(name) = std::str::from_utf8(name) else {
                continue;
            };
            head.credentials.note(name);
            // The name first: only the values the core reads are checked
            // for UTF-8 (a client's other headers cost nothing more).
            let slot = if identity_header == Some(name) {
                &mut head.identity
            } else if claims_header == Some(name) {
                &mut head.claims
            } else {
                match name {
                    ":method" | ":path" | headers::AUTHORITY => {
                        if let Ok(value) = std::str::from_utf8(value) {
                            let value = value.to_owned();
                            match name {
                                ":method" => head.method = value,
                                ":path" => head.path = value,
                                _ => head.authority = value,
                            }
                        }
                        continue;
                    }
                    headers::SESSION_ID => &mut head.session_id,
                    headers::PROTOCOL_VERSION => &mut head.protocol_version,
                    "content-length" => &mut head.content_length,
                    headers::ORIGIN => &mut head.origin,
                    headers::AUTHORIZATION => &mut head.authorization,
                    modern::MCP_METHOD => &mut head.mcp_method,
                    modern::MCP_NAME => &mut head.mcp_name,
                    headers::X_MCP_VIRTUALSERVER => &mut head.virtual_server,
                    headers::X_MCP_AUTHORIZED => &mut head.authorized,
                    _ => continue,
                }
            };
            if slot.is_none()
                && let Ok(value) = std::str::from_utf8(value)
            {
                *slot = Some(value.to_owned());
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
            virtual_server: self.virtual_server.as_deref(),
            claims: self.claims.as_deref().map(str::as_bytes),
            authorized: self.authorized.as_deref().map(str::as_bytes),
            now: self.now,
        }
    }
}
