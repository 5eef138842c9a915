//! Who owns a resource URI: the index the router routes `resources/read`
//! with, and the broker its stateless-era calls.
//!
//! Resource URIs are exposed unchanged (tools and prompts get their
//! server's prefix; URIs do not). A URI is the upstream's own identifier:
//! it appears inside tool results (`resource_link`, embedded resources),
//! prompt messages and `notifications/resources/updated`, which the gateway
//! relays byte for byte. Rewriting URIs per server (Envoy's native router
//! makes `server+scheme://...`) would have to rewrite every one of those
//! places, and a URI the gateway missed would not resolve. Unchanged URIs
//! resolve wherever the client found them, so `resources/read` of a URI
//! goes, in this order, to:
//!
//! 1. the server that lists it (`resources/list`; a URI two servers list
//!    belongs to the one listed first, and the conflict is reported);
//! 2. the first server (in table order) with a resource template the URI
//!    matches ([`router_config::uri_template`]);
//! 3. the only server whose listed URIs or templates use its scheme (a
//!    `resource_link` to a resource nobody lists, such as a file a tool
//!    just wrote).
//!
//! The trade-off: two servers that use the same URI for different things
//! cannot both serve it (the second is reported in `/status`), and a URI of
//! a scheme several servers share, listed by none and matching no template,
//! is unknown. Servers of one product usually have distinct schemes; where
//! they do not, prefer distinct hosts in their URIs.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};

use crate::ServerRoute;
use crate::uri_template::UriTemplate;

/// Keys come from trusted configuration, so a fixed-key hasher is safe
/// (clients only look up) and needs no entropy from the host.
type FixedState = BuildHasherDefault<DefaultHasher>;

/// How a resource URI's owner was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceMatch {
    Listed,
    Template,
    Scheme,
}

/// The owners of the resource URIs and templates of a route table's
/// servers, by server index.
#[derive(Debug, Default)]
pub struct ResourceIndex {
    /// Listed resource URI → server index.
    resources: HashMap<String, usize, FixedState>,
    /// Resource template (as written) → server index.
    template_names: HashMap<String, usize, FixedState>,
    /// Parsed templates in table order, with their server index.
    templates: Vec<(UriTemplate, usize)>,
    /// URI scheme → its server, when only one server uses it.
    schemes: HashMap<String, Option<usize>, FixedState>,
}

impl ResourceIndex {
    /// Indexes `servers` (a route table's, in its order). Never fails: a
    /// template that does not parse is left out (the builder reports such
    /// templates), and a URI listed twice belongs to the first.
    pub fn new(servers: &[ServerRoute]) -> Self {
        let mut index = ResourceIndex::default();
        for (server_index, server) in servers.iter().enumerate() {
            for uri in &server.resources {
                index.resources.entry(uri.clone()).or_insert(server_index);
            }
            for template in &server.resource_templates {
                index
                    .template_names
                    .entry(template.clone())
                    .or_insert(server_index);
                if let Ok(parsed) = UriTemplate::parse(template) {
                    index.templates.push((parsed, server_index));
                }
            }
            for uri in server.resources.iter().chain(&server.resource_templates) {
                if let Some(scheme) = scheme(uri) {
                    let owner = index
                        .schemes
                        .entry(scheme.to_owned())
                        .or_insert(Some(server_index));
                    if *owner != Some(server_index) {
                        *owner = None;
                    }
                }
            }
        }
        index
    }

    /// The server index owning `uri`, and how it was found: the server that
    /// lists it, else the first with a template it matches, else the only
    /// server of its scheme.
    pub fn owner(&self, uri: &str) -> Option<(usize, ResourceMatch)> {
        if let Some(&server_index) = self.resources.get(uri) {
            return Some((server_index, ResourceMatch::Listed));
        }
        // The literal prefix (`scheme://host/`) rules most templates out
        // before the matcher runs.
        if let Some((_, server_index)) = self
            .templates
            .iter()
            .find(|(t, _)| uri.starts_with(t.literal_prefix()) && t.matches(uri))
        {
            return Some((*server_index, ResourceMatch::Template));
        }
        let owner = scheme(uri).and_then(|s| self.schemes.get(s).copied().flatten())?;
        Some((owner, ResourceMatch::Scheme))
    }

    /// The owner of the `uri` of a `completion/complete` reference: a
    /// resource template as listed, or else a resource URI.
    pub fn reference_owner(&self, uri: &str) -> Option<(usize, ResourceMatch)> {
        match self.template_names.get(uri) {
            Some(&server_index) => Some((server_index, ResourceMatch::Template)),
            None => self.owner(uri),
        }
    }
}

/// The scheme of a URI (RFC 3986 §3.1: a letter, then letters, digits,
/// `+ - .`, before the first `:`).
fn scheme(uri: &str) -> Option<&str> {
    let (scheme, _) = uri.split_once(':')?;
    let mut bytes = scheme.bytes();
    let valid = bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    valid.then_some(scheme)
}
