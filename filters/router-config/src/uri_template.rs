//! Matching URIs against the URI templates of resource templates (RFC 6570,
//! "URI Template"), to route `resources/read` of a URI no listing names.
//!
//! Matching is by shape, not by expansion: each expression stands for the
//! characters its operator's expansion can produce (RFC 6570 §3.2), and the
//! literal parts must appear as written. It never binds variables; it only
//! answers "could this template have produced this URI". One pass per
//! template part over the URI (a set of reachable positions), so the cost
//! is linear in the URI's length times the template's parts.
//!
//! | expression | matches |
//! |---|---|
//! | `{var}` | characters other than `/ ? #` (possibly none) |
//! | `{+var}` | any characters |
//! | `{#var}` | nothing, or `#` and any characters |
//! | `{/var}` | nothing, or `/` and characters other than `? #` |
//! | `{.var}` | nothing, or `.` and characters other than `/ ? #` |
//! | `{;var}` | nothing, or `;` and characters other than `/ ? #` |
//! | `{?var}` | nothing, or `?` and characters other than `#` |
//! | `{&var}` | nothing, or `&` and characters other than `#` |

/// A parsed URI template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Expression(Operator),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Simple,
    Reserved,
    Fragment,
    Path,
    Label,
    Parameter,
    Query,
    QueryContinuation,
}

impl Operator {
    /// The character an expansion of this operator starts with, when it
    /// has one.
    fn lead(self) -> Option<u8> {
        match self {
            Operator::Simple | Operator::Reserved => None,
            Operator::Fragment => Some(b'#'),
            Operator::Path => Some(b'/'),
            Operator::Label => Some(b'.'),
            Operator::Parameter => Some(b';'),
            Operator::Query => Some(b'?'),
            Operator::QueryContinuation => Some(b'&'),
        }
    }

    /// Whether `byte` can occur in an expansion (after its lead).
    fn allows(self, byte: u8) -> bool {
        match self {
            Operator::Reserved | Operator::Fragment => true,
            Operator::Path => !matches!(byte, b'?' | b'#'),
            Operator::Query | Operator::QueryContinuation => byte != b'#',
            Operator::Simple | Operator::Label | Operator::Parameter => {
                !matches!(byte, b'/' | b'?' | b'#')
            }
        }
    }
}

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("an expression is not closed with '}}'")]
    Unclosed,
    #[error("'}}' closes no expression")]
    UnopenedClose,
    #[error("an expression names no variable")]
    EmptyExpression,
    #[error("a variable name may hold only A-Z a-z 0-9 _ . % and the modifiers * and :N")]
    BadVariable,
}

impl UriTemplate {
    /// Parses `template` (RFC 6570 §2).
    ///
    /// # Errors
    /// [`TemplateError`] when braces do not pair up or an expression is not
    /// a list of variable names.
    pub fn parse(template: &str) -> Result<UriTemplate, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    parts.push(Part::Literal(rest.to_owned()));
                    break;
                }
                Some(at) if rest.as_bytes()[at] == b'}' => {
                    return Err(TemplateError::UnopenedClose);
                }
                Some(at) => {
                    if at > 0 {
                        parts.push(Part::Literal(rest[..at].to_owned()));
                    }
                    let close = rest[at..].find('}').ok_or(TemplateError::Unclosed)? + at;
                    parts.push(Part::Expression(expression(&rest[at + 1..close])?));
                    rest = &rest[close + 1..];
                }
            }
        }
        Ok(UriTemplate { parts })
    }

    /// Whether the template could have produced `uri`.
    pub fn matches(&self, uri: &str) -> bool {
        let bytes = uri.as_bytes();
        // reachable[i]: the parts so far can produce exactly bytes[..i].
        let mut reachable = vec![false; bytes.len() + 1];
        reachable[0] = true;
        let mut next = vec![false; bytes.len() + 1];
        for part in &self.parts {
            next.iter_mut().for_each(|r| *r = false);
            match part {
                Part::Literal(literal) => {
                    let literal = literal.as_bytes();
                    for (at, _) in reachable.iter().enumerate().filter(|(_, r)| **r) {
                        if bytes[at..].starts_with(literal) {
                            next[at + literal.len()] = true;
                        }
                    }
                }
                Part::Expression(operator) => {
                    // Every expansion may be empty (undefined variables).
                    // `running`: some reachable start leads here through
                    // bytes the expansion allows (after its lead, if any).
                    let mut running = false;
                    for at in 0..=bytes.len() {
                        let starts = reachable[at]
                            && match operator.lead() {
                                None => true,
                                Some(lead) => {
                                    next[at] = true;
                                    bytes.get(at) == Some(&lead)
                                }
                            };
                        match operator.lead() {
                            None => {
                                running |= starts;
                                if running {
                                    next[at] = true;
                                }
                                running &= bytes.get(at).is_some_and(|b| operator.allows(*b));
                            }
                            Some(_) => {
                                if running {
                                    next[at] = true;
                                }
                                // A lead at `at` is consumed: the value starts after it.
                                running = (running
                                    && bytes.get(at).is_some_and(|b| operator.allows(*b)))
                                    || starts;
                            }
                        }
                    }
                }
            }
            std::mem::swap(&mut reachable, &mut next);
            if !reachable.iter().any(|r| *r) {
                return false;
            }
        }
        reachable[bytes.len()]
    }

    /// The literal text before the first expression (`test://static/` of
    /// `test://static/{id}`).
    pub fn literal_prefix(&self) -> &str {
        match self.parts.first() {
            Some(Part::Literal(literal)) => literal,
            _ => "",
        }
    }
}

fn expression(inner: &str) -> Result<Operator, TemplateError> {
    let (operator, variables) = match inner.as_bytes().first() {
        Some(b'+') => (Operator::Reserved, &inner[1..]),
        Some(b'#') => (Operator::Fragment, &inner[1..]),
        Some(b'/') => (Operator::Path, &inner[1..]),
        Some(b'.') => (Operator::Label, &inner[1..]),
        Some(b';') => (Operator::Parameter, &inner[1..]),
        Some(b'?') => (Operator::Query, &inner[1..]),
        Some(b'&') => (Operator::QueryContinuation, &inner[1..]),
        _ => (Operator::Simple, inner),
    };
    if variables.is_empty() {
        return Err(TemplateError::EmptyExpression);
    }
    for variable in variables.split(',') {
        let name = variable
            .strip_suffix('*')
            .or_else(|| variable.split_once(':').map(|(name, _)| name))
            .unwrap_or(variable);
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'%'));
        if !valid {
            return Err(TemplateError::BadVariable);
        }
    }
    Ok(operator)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn matches(template: &str, uri: &str) -> bool {
        UriTemplate::parse(template)
            .expect("a valid template")
            .matches(uri)
    }

    #[test]
    fn simple_expressions_match_one_segment() {
        assert!(matches(
            "test://static/resource/{id}",
            "test://static/resource/42"
        ));
        assert!(!matches(
            "test://static/resource/{id}",
            "test://static/resource/4/2"
        ));
        assert!(!matches("test://static/resource/{id}", "test://other/42"));
        assert!(matches("users://{user}/profile", "users://ada/profile"));
        assert!(!matches("users://{user}/profile", "users://ada/settings"));
        assert!(matches("a{x}b{y}c", "a1b2c"));
        assert!(!matches("a{x}b{y}c", "a1b2"));
    }

    #[test]
    fn operators_match_what_their_expansions_produce() {
        assert!(matches("file:///{+path}", "file:///etc/hosts"));
        assert!(matches("file://{/segments*}", "file:///a/b/c"));
        assert!(!matches("file://{/segments*}", "file://x"));
        assert!(matches(
            "search://q{?term,page}",
            "search://q?term=a&page=2"
        ));
        assert!(matches("search://q{?term,page}", "search://q"));
        assert!(!matches("search://q{?term}", "search://q#frag"));
        assert!(matches("doc://x{#section}", "doc://x#a/b?c"));
        assert!(matches("pkg://{name}{.ext}", "pkg://tool.tar"));
        assert!(matches("m://{a}{&b}", "m://x&b=1"));
        assert!(matches("m://{;p}", "m://;p=1"));
    }

    #[test]
    fn malformed_templates_are_refused() {
        assert_eq!(UriTemplate::parse("a{b"), Err(TemplateError::Unclosed));
        assert_eq!(UriTemplate::parse("a}b"), Err(TemplateError::UnopenedClose));
        assert_eq!(
            UriTemplate::parse("a{}"),
            Err(TemplateError::EmptyExpression)
        );
        assert_eq!(
            UriTemplate::parse("a{b c}"),
            Err(TemplateError::BadVariable)
        );
        assert_eq!(
            UriTemplate::parse("x://{id}/y")
                .expect("valid")
                .literal_prefix(),
            "x://"
        );
        assert!(UriTemplate::parse("plain://no/expressions").is_ok());
    }

    #[test]
    fn long_uris_are_matched_in_linear_passes() {
        let uri = format!("x://{}", "a/".repeat(1000));
        assert!(matches("x://{+rest}", &uri));
        assert!(!matches("x://{a}{b}{c}{d}{e}{f}/end", &uri));
    }
}
