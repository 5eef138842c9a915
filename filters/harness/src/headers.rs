//! An ordered, multi-valued HTTP header map as Envoy keeps it: names are
//! lower case (Envoy stores `LowerCaseString`s, HTTP/2 requires it),
//! pseudo-headers (`:method`, `:path`, `:authority`, `:status`, ...) are
//! ordinary entries, values are bytes (HTTP/1 allows obs-text, so a value
//! need not be UTF-8).

/// A header map. Lookups are by lower-case name; order is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, Vec<u8>)>,
}

impl Headers {
    pub fn new() -> Self {
        Headers::default()
    }

    /// Builder form of [`Headers::add`].
    pub fn with(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.add(name, value);
        self
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first value of `name` (Envoy's `proxy_get_header_map_value`
    /// answers the first one too).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        let name = name.to_ascii_lowercase();
        self.entries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of `name` as text, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<&[u8]> {
        let name = name.to_ascii_lowercase();
        self.entries
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Appends a value (`proxy_add_header_map_value`).
    pub fn add(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.entries
            .push((name.to_ascii_lowercase(), value.as_ref().to_vec()));
    }

    /// Sets `name` to one value (`proxy_replace_header_map_value`): the
    /// first occurrence keeps its place, later ones are dropped; a new name
    /// is appended.
    pub fn set(&mut self, name: &str, value: impl AsRef<[u8]>) {
        let name = name.to_ascii_lowercase();
        let value = value.as_ref().to_vec();
        match self.entries.iter().position(|(n, _)| *n == name) {
            Some(first) => {
                let mut index = 0;
                self.entries.retain(|(n, _)| {
                    let keep = *n != name || index == first;
                    index += 1;
                    keep
                });
                if let Some(entry) = self.entries.get_mut(first) {
                    entry.1 = value;
                }
            }
            None => self.entries.push((name, value)),
        }
    }

    /// Removes every value of `name`; removing an absent name is fine.
    pub fn remove(&mut self, name: &str) {
        let name = name.to_ascii_lowercase();
        self.entries.retain(|(n, _)| *n != name);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut headers = Headers::new();
        for (name, value) in iter {
            headers.add(name.as_ref(), value);
        }
        headers
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>, const K: usize> From<[(N, V); K]> for Headers {
    fn from(pairs: [(N, V); K]) -> Self {
        pairs.into_iter().collect()
    }
}

impl std::fmt::Display for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, value) in &self.entries {
            writeln!(f, "  {name}: {}", String::from_utf8_lossy(value))?;
        }
        Ok(())
    }
}

/// Whether a header name the filter set is acceptable to Envoy: a
/// pseudo-header or an RFC 9110 token, never empty.
pub(crate) fn is_valid_name(name: &[u8]) -> bool {
    let body = name.strip_prefix(b":").unwrap_or(name);
    !body.is_empty()
        && body
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
}

/// Whether a header value the filter set is safe on the wire: no CR, LF or
/// NUL (RFC 9110 §5.5; Envoy refuses such values, HTTP/1 would be split).
pub(crate) fn is_valid_value(value: &[u8]) -> bool {
    !value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keeps_the_first_position_and_drops_duplicates() {
        let mut h = Headers::from([("A", "1"), ("b", "2"), ("a", "3")]);
        h.set("a", "x");
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            vec![("a", &b"x"[..]), ("b", &b"2"[..])]
        );
        h.set("c", "4");
        h.remove("B");
        assert_eq!(h.get("c"), Some(&b"4"[..]));
        assert!(!h.contains("b"));
    }

    #[test]
    fn names_and_values_are_checked_like_envoy_does() {
        assert!(is_valid_name(b":authority"));
        assert!(is_valid_name(b"x-mcp-toolname"));
        assert!(!is_valid_name(b""));
        assert!(!is_valid_name(b"bad name"));
        assert!(is_valid_value(b"caf\xe9"));
        assert!(!is_valid_value(b"a\r\nx: y"));
    }
}
