//! Who may use what: identity rules and virtual servers, the **one source**
//! of both the filtered lists (the broker) and the checked calls (the
//! router). Both read a request with [`Policy::access`] and ask the
//! resulting [`Access`] about each entry, so a list never shows what a
//! call would be refused, nor hides what it would be allowed.
//!
//! Identity comes from a verified credential only: the JWT payload that
//! Envoy's `jwt_authn` writes into [`Policy::claims_header`] after checking
//! the token (`forward_payload_header`: base64url of the payload JSON,
//! RFC 7519 §3). The gateway's Envoy removes a client's own copy of that
//! header before `jwt_authn` runs.

use base64::Engine;
use mcp_protocol::refusal::Refusal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::types::Entry;

pub mod authorized;
pub use authorized::{AuthorizedHeader, AuthorizedVerifier, Capabilities};

/// What the request's `x-mcp-authorized` header established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorized {
    /// The policy has no `authorizedHeader`, or does not require one and
    /// the request has none: this form restricts nothing.
    NotConfigured,
    /// Required, and the request has none: nothing is allowed.
    Missing,
    Verified(Capabilities),
}

/// The identity headers of one request, raw.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIdentity<'a> {
    /// The claims header (the verified JWT payload).
    pub claims: Option<&'a [u8]>,
    /// `x-mcp-authorized`.
    pub authorized: Option<&'a [u8]>,
    /// The virtual server the request selected.
    pub virtual_server: Option<&'a str>,
}

/// Identity rules and virtual servers, in the route table as `policy`.
/// The default (no rules, no virtual servers) allows every caller
/// everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// Request header holding the verified JWT payload (base64url JSON).
    /// Default `x-jwt-payload`.
    #[serde(default = "default_claims_header")]
    pub claims_header: String,
    /// The claim listing the caller's groups (an array of strings, or one
    /// string). Default `groups`.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Identity rules. Empty: no identity restriction. Otherwise a caller
    /// may use the union of what the rules it matches allow, and nothing
    /// else.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// Named slices of the catalogue a client selects by the
    /// `X-Mcp-Virtualserver` header or by the path `{mcpPath}/{name}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_servers: Vec<VirtualServer>,
    /// Kuadrant's form of identity rules: a signed `x-mcp-authorized`
    /// header ([`authorized`]). With `rules` too, both must allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_header: Option<AuthorizedHeader>,
    /// Tools whose calls wait for the caller's approval (an elicitation to
    /// the client) before they are forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

/// Which tool calls need the caller's approval. The broker works out the
/// set (it knows each tool's annotations) and writes it into each
/// server's route (`ServerRoute::approval`); such calls go through it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Approval {
    /// Exposed tool names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Also every tool whose annotations say `destructiveHint: true` (MCP
    /// 2025-06-18 "Tools › Tool Annotations"; a hint the upstream gives,
    /// so opt-in).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub destructive: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            claims_header: default_claims_header(),
            groups_claim: default_groups_claim(),
            rules: Vec::new(),
            virtual_servers: Vec::new(),
            authorized_header: None,
            approval: None,
        }
    }
}

/// One identity rule: who it matches and what it allows.
///
/// A rule matches when each condition it has holds: `subjects` contains
/// the `sub` claim; `groups` shares a group with the caller; the caller
/// holds every scope in `scopes` (the space-separated `scope` claim, or
/// the `scp` array). A rule without conditions matches every caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// Names the rule in refusals and logs.
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// What a matching caller may use.
    pub allow: Vec<Grant>,
}

/// Entries of one server (or `*`, every server) a rule allows.
///
/// Names are upstream names (before the server's prefix); resources are
/// URI prefixes (a template is allowed when its template text starts with
/// one). `*` in a list allows every entry of that kind. A grant that lists
/// none of `tools`, `prompts`, `resources` allows everything on its server;
/// one that lists any allows only what it lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Grant {
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
}

/// A virtual server: the tools, prompts and resources it exposes, by the
/// names (and URI prefixes) clients see. Lists through it show only its
/// members and calls to anything else are refused; identity rules still
/// apply inside it. As Kuadrant's `MCPVirtualServer` reads: `tools` are
/// always listed (none when empty), prompts and resources only narrow
/// when given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualServer {
    /// `name` or `namespace/name`: the `X-Mcp-Virtualserver` value and the
    /// path segment(s) after the MCP path.
    pub name: String,
    #[serde(default)]
    pub tools: Vec<String>,
    /// Absent: every prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts: Option<Vec<String>>,
    /// URI prefixes of the resources (and templates) it exposes; absent:
    /// every resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
}

/// The caller, as its verified claims describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// `sub`.
    pub subject: Option<String>,
    pub groups: Vec<String>,
    pub scopes: Vec<String>,
}

impl Caller {
    /// Reads the claims header's value: base64url (padded or not) of a JSON
    /// object (RFC 7519 §3). `sub` a string; `groups_claim` an array of
    /// strings or a string; scopes from `scope` (space-separated, RFC 8693
    /// §4.2) or `scp` (an array). Other claims are ignored.
    ///
    /// # Errors
    /// [`Refusal::InvalidIdentity`] when the value is not base64url of a
    /// JSON object.
    pub fn from_claims_header(value: &[u8], groups_claim: &str) -> Result<Caller, Refusal> {
        let invalid = |detail: &str| Refusal::InvalidIdentity {
            detail: detail.to_owned(),
        };
        let trimmed = value.strip_suffix(b"==").unwrap_or(value);
        let trimmed = trimmed.strip_suffix(b"=").unwrap_or(trimmed);
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(trimmed)
            .map_err(|_| invalid("the claims header is not base64url"))?;
        let claims: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&json)
            .map_err(|_| invalid("the claims header is not a JSON object"))?;
        let strings = |value: Option<&serde_json::Value>| -> Vec<String> {
            match value {
                Some(serde_json::Value::String(one)) => vec![one.clone()],
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            }
        };
        let mut scopes: Vec<String> = claims
            .get("scope")
            .and_then(|s| s.as_str())
            .map(|s| s.split_ascii_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        scopes.extend(strings(claims.get("scp")));
        Ok(Caller {
            subject: claims
                .get("sub")
                .and_then(|s| s.as_str())
                .map(str::to_owned),
            groups: strings(claims.get(groups_claim)),
            scopes,
        })
    }
}

/// What one request may use: its caller's rules and its virtual server.
#[derive(Debug, Clone)]
pub struct Access<'p> {
    policy: &'p Policy,
    /// `None`: no verified claims (an unidentified caller).
    caller: Option<Caller>,
    authorized: Authorized,
    virtual_server: Option<&'p VirtualServer>,
}

impl Policy {
    /// Whether it is the default policy (left out of the route table).
    pub fn is_default(&self) -> bool {
        *self == Policy::default()
    }

    /// Whether the policy restricts anything (lists then depend on who asks).
    pub fn is_active(&self) -> bool {
        !self.rules.is_empty()
            || !self.virtual_servers.is_empty()
            || self.authorized_header.is_some()
    }

    /// The caller of a request with this claims header value, when the
    /// rules need one.
    ///
    /// # Errors
    /// [`Refusal::InvalidIdentity`].
    pub fn caller(&self, claims: Option<&[u8]>) -> Result<Option<Caller>, Refusal> {
        match claims {
            Some(value) if !self.rules.is_empty() => {
                Caller::from_claims_header(value, &self.groups_claim).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// What `x-mcp-authorized` (`value`) establishes under this policy,
    /// `verify` reading a present value (the router caches its answers).
    ///
    /// # Errors
    /// `verify`'s refusal.
    pub fn authorized(
        &self,
        value: Option<&[u8]>,
        verify: impl FnOnce(&[u8]) -> Result<Capabilities, Refusal>,
    ) -> Result<Authorized, Refusal> {
        let Some(config) = &self.authorized_header else {
            return Ok(Authorized::NotConfigured);
        };
        match value {
            Some(value) if !value.is_empty() => verify(value).map(Authorized::Verified),
            _ if config.required => Ok(Authorized::Missing),
            _ => Ok(Authorized::NotConfigured),
        }
    }

    /// The access of a request with these header values: the claims
    /// header's (read when there are rules) and the virtual server's name.
    ///
    /// # Errors
    /// [`Refusal::InvalidIdentity`], [`Refusal::UnknownVirtualServer`].
    pub fn access_of_request(
        &self,
        request: &RequestIdentity<'_>,
        now: u64,
    ) -> Result<Access<'_>, Refusal> {
        let caller = self.caller(request.claims)?;
        let authorized = self.authorized(request.authorized, |value| {
            let config = self.authorized_header.as_ref().ok_or(Refusal::Internal {
                detail: "authorized header checked without a configuration".to_owned(),
            })?;
            AuthorizedVerifier::new(config)
                .map_err(|detail| Refusal::InvalidIdentity { detail })?
                .verify(value, now)
        })?;
        self.access(caller, authorized, request.virtual_server)
    }

    /// The virtual server named `name`.
    pub fn virtual_server(&self, name: &str) -> Option<&VirtualServer> {
        self.virtual_servers.iter().find(|v| v.name == name)
    }

    /// The access of a request from `caller` (its claims, read with
    /// [`Caller::from_claims_header`]; `None` without the header) through
    /// the virtual server `virtual_server` (`None`: the whole gateway).
    /// with what its `x-mcp-authorized` header established.
    ///
    /// # Errors
    /// [`Refusal::UnknownVirtualServer`] for a name not configured.
    pub fn access<'p>(
        &'p self,
        caller: Option<Caller>,
        authorized: Authorized,
        virtual_server: Option<&str>,
    ) -> Result<Access<'p>, Refusal> {
        let virtual_server =
            match virtual_server {
                Some(name) => Some(self.virtual_server(name).ok_or_else(|| {
                    Refusal::UnknownVirtualServer {
                        name: name.chars().take(128).collect(),
                    }
                })?),
                None => None,
            };
        Ok(Access {
            policy: self,
            caller,
            authorized,
            virtual_server,
        })
    }
}

static ANONYMOUS: Caller = Caller {
    subject: None,
    groups: Vec::new(),
    scopes: Vec::new(),
};

impl Access<'_> {
    /// Whether the request may use the entry of kind `entry` that `server`
    /// knows as `upstream` and clients as `exposed` (for resources and
    /// templates both are the URI or template).
    pub fn allows(&self, server: &str, entry: Entry, upstream: &str, exposed: &str) -> bool {
        self.refusal_reason(server, entry, upstream, exposed)
            .is_none()
    }

    /// Why the request may not use that entry, or `None` when it may.
    pub fn refusal_reason(
        &self,
        server: &str,
        entry: Entry,
        upstream: &str,
        exposed: &str,
    ) -> Option<String> {
        if let Some(virtual_server) = self.virtual_server {
            let members = match entry {
                Entry::Tool => Some(&virtual_server.tools),
                Entry::Prompt => virtual_server.prompts.as_ref(),
                Entry::Resource | Entry::ResourceTemplate => virtual_server.resources.as_ref(),
            };
            let member = match members {
                None => true,
                Some(members) if entry.is_prefixed() => members.iter().any(|m| m == exposed),
                Some(members) => members
                    .iter()
                    .any(|prefix| exposed.starts_with(prefix.as_str())),
            };
            if !member {
                return Some(format!(
                    "it is not in virtual server {:?}",
                    virtual_server.name
                ));
            }
        }
        match &self.authorized {
            Authorized::NotConfigured => {}
            Authorized::Missing => {
                return Some("the request carries no x-mcp-authorized header".to_owned());
            }
            Authorized::Verified(capabilities) => {
                if !capabilities.allows(server, entry, upstream) {
                    return Some("its x-mcp-authorized header does not include it".to_owned());
                }
            }
        }
        if self.policy.rules.is_empty() {
            return None;
        }
        let caller = self.caller.as_ref().unwrap_or(&ANONYMOUS);
        let allowed = self
            .policy
            .rules
            .iter()
            .filter(|rule| rule.matches(caller))
            .flat_map(|rule| rule.allow.iter())
            .any(|grant| grant.allows(server, entry, upstream));
        if allowed {
            return None;
        }
        Some(match &caller.subject {
            Some(subject) => format!("no rule allows it to {subject:?}"),
            None => "no rule allows it to an unidentified caller".to_owned(),
        })
    }

    /// The refusal of a call to that entry, or `None` when it may be made.
    pub fn check(
        &self,
        server: &str,
        entry: Entry,
        upstream: &str,
        exposed: &str,
    ) -> Result<(), Refusal> {
        match self.refusal_reason(server, entry, upstream, exposed) {
            None => Ok(()),
            Some(reason) => Err(Refusal::NotAllowed {
                what: format!(
                    "{} {:?}",
                    entry.noun(),
                    exposed.chars().take(128).collect::<String>()
                ),
                reason,
            }),
        }
    }
}

impl Rule {
    fn matches(&self, caller: &Caller) -> bool {
        let subject = self.subjects.is_empty()
            || caller
                .subject
                .as_ref()
                .is_some_and(|s| self.subjects.contains(s));
        let group = self.groups.is_empty() || self.groups.iter().any(|g| caller.groups.contains(g));
        let scopes = self.scopes.iter().all(|s| caller.scopes.contains(s));
        subject && group && scopes
    }
}

impl Grant {
    fn allows(&self, server: &str, entry: Entry, upstream: &str) -> bool {
        if self.server != "*" && self.server != server {
            return false;
        }
        if self.tools.is_none() && self.prompts.is_none() && self.resources.is_none() {
            return true;
        }
        let listed = match entry {
            Entry::Tool => &self.tools,
            Entry::Prompt => &self.prompts,
            Entry::Resource | Entry::ResourceTemplate => &self.resources,
        };
        let Some(listed) = listed else {
            return false;
        };
        listed.iter().any(|item| {
            item == "*"
                || if entry.is_prefixed() {
                    item == upstream
                } else {
                    upstream.starts_with(item.as_str())
                }
        })
    }
}

fn default_claims_header() -> String {
    "x-jwt-payload".to_owned()
}

fn default_groups_claim() -> String {
    "groups".to_owned()
}

#[cfg(test)]
mod tests;
