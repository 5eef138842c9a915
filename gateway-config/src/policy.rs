//! Checks of the `policy` section that the route table's types cannot
//! express: header names Envoy can set, virtual server names a path can
//! carry. (A grant naming a server that is not configured grants nothing:
//! in Kubernetes servers come and go.)

use router_config::Policy;

use crate::authentication::valid_header_name;

pub(crate) fn validate(policy: &Policy) -> Result<(), String> {
    if !valid_header_name(&policy.claims_header) {
        return Err(format!(
            "policy.claimsHeader {:?}: a lower-case header name (a-z 0-9 -) outside x-mcp-*",
            policy.claims_header
        ));
    }
    for rule in &policy.rules {
        if rule.name.is_empty() {
            return Err("policy.rules: every rule has a name".to_owned());
        }
    }
    if let Some(header) = &policy.authorized_header {
        router_config::policy::AuthorizedVerifier::new(header)?;
    }
    let mut names = std::collections::HashSet::new();
    for virtual_server in &policy.virtual_servers {
        if !is_virtual_server_name(&virtual_server.name) {
            return Err(format!(
                "policy.virtualServers name {:?}: `name` or `namespace/name`, each 1 to 63 characters of a-z A-Z 0-9 . _ -",
                virtual_server.name
            ));
        }
        if !names.insert(virtual_server.name.as_str()) {
            return Err(format!(
                "policy.virtualServers name {:?} is used twice",
                virtual_server.name
            ));
        }
    }
    Ok(())
}

/// `name` or `namespace/name`: what fits both a header and a path.
fn is_virtual_server_name(name: &str) -> bool {
    let segment = |s: &str| {
        (1..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && s != "."
            && s != ".."
    };
    match name.split_once('/') {
        Some((namespace, rest)) => segment(namespace) && segment(rest),
        None => segment(name),
    }
}
