//! `proxy-header-map`: a header map as the proxy-wasm ABI serialises it,
//! read in place.
//!
//! `proxy_get_header_map_pairs` (proxy-wasm ABI 0.2.1, "Header maps")
//! hands the filter one buffer: the number of pairs `n` as a little-endian
//! `u32`, then `n` pairs of little-endian `u32` lengths (name, value), then
//! each name and each value in that order, every one followed by a NUL
//! byte. The SDK's decoder copies every name and value into a new
//! allocation and panics on a name that is not UTF-8; the router reads a
//! handful of values out of a dozen or more headers per request, so it
//! borrows them from the buffer instead and copies only what it keeps.

#[cfg(target_os = "wasi")]
mod host;
#[cfg(target_os = "wasi")]
pub use host::fetch;

/// The `(name, value)` pairs of a serialised header map, in the host's
/// order, borrowed from `bytes`. A buffer that ends early or says more than
/// it holds yields the pairs before the first one that does not fit (none
/// if it ends inside the lengths), and then ends: a short read never panics
/// and never yields bytes from outside a pair. An empty buffer is an empty
/// map.
pub fn pairs(bytes: &[u8]) -> Pairs<'_> {
    // The lengths come first, 8 bytes a pair: a buffer too short for its
    // own lengths is cut short before any name, so it has no pairs.
    let count = read_u32(bytes, 0)
        .filter(|count| {
            count
                .checked_mul(8)
                .and_then(|lengths| lengths.checked_add(4))
                .is_some_and(|data| data <= bytes.len())
        })
        .unwrap_or(0);
    Pairs {
        bytes,
        count,
        next: 0,
        data: 4 + count * 8,
    }
}

/// Iterator of [`pairs`].
#[derive(Debug, Clone)]
pub struct Pairs<'a> {
    bytes: &'a [u8],
    count: usize,
    next: usize,
    /// Offset of the next pair's name.
    data: usize,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.count {
            return None;
        }
        let lengths = 4 + self.next * 8;
        let pair = read_u32(self.bytes, lengths)
            .zip(read_u32(self.bytes, lengths + 4))
            .and_then(|(name_len, value_len)| {
                let name = self.slice(self.data, name_len)?;
                let value = self.slice(self.data + name_len + 1, value_len)?;
                Some((name, value, self.data + name_len + 1 + value_len + 1))
            });
        match pair {
            Some((name, value, after)) => {
                self.next += 1;
                self.data = after;
                Some((name, value))
            }
            None => {
                self.next = self.count;
                None
            }
        }
    }
}

impl<'a> Pairs<'a> {
    /// `len` bytes at `at`, if they and their NUL terminator are inside
    /// the buffer.
    fn slice(&self, at: usize, len: usize) -> Option<&'a [u8]> {
        let end = at.checked_add(len)?;
        if end >= self.bytes.len() {
            return None;
        }
        self.bytes.get(at..end)
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<usize> {
    let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(word)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ABI's serialisation, as a host writes it.
    fn serialise(map: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = (map.len() as u32).to_le_bytes().to_vec();
        for (name, value) in map {
            out.extend((name.len() as u32).to_le_bytes());
            out.extend((value.len() as u32).to_le_bytes());
        }
        for (name, value) in map {
            out.extend(*name);
            out.push(0);
            out.extend(*value);
            out.push(0);
        }
        out
    }

    #[test]
    fn reads_every_pair_in_order() {
        let map: [(&[u8], &[u8]); 4] = [
            (b":method", b"POST"),
            (b":path", b"/mcp"),
            (b"x-empty", b""),
            (b"mcp-session-id", b"abc"),
        ];
        let bytes = serialise(&map);
        assert_eq!(pairs(&bytes).collect::<Vec<_>>(), map.to_vec());
    }

    #[test]
    fn an_empty_buffer_or_map_has_no_pairs() {
        assert_eq!(pairs(&[]).count(), 0);
        assert_eq!(pairs(&serialise(&[])).count(), 0);
    }

    #[test]
    fn names_and_values_need_not_be_utf8() {
        let map: [(&[u8], &[u8]); 2] = [(b"x-\xff", b"\xfe\x00v"), (b"a", b"b")];
        let bytes = serialise(&map);
        assert_eq!(pairs(&bytes).collect::<Vec<_>>(), map.to_vec());
    }

    #[test]
    fn a_truncated_buffer_yields_the_pairs_that_fit_then_ends() {
        let map: [(&[u8], &[u8]); 3] = [(b"a", b"1"), (b"bb", b"22"), (b"ccc", b"333")];
        let bytes = serialise(&map);
        for cut in 0..bytes.len() {
            let got: Vec<_> = pairs(&bytes[..cut]).collect();
            assert!(got.len() < 3, "cut at {cut}");
            assert_eq!(got, map[..got.len()].to_vec(), "cut at {cut}");
        }
        // Cut only the last terminator: the last pair no longer fits.
        let got: Vec<_> = pairs(&bytes[..bytes.len() - 1]).collect();
        assert_eq!(got, map[..2].to_vec());
    }

    #[test]
    fn lengths_past_the_buffer_end_the_pairs() {
        let mut bytes = serialise(&[(b"a", b"1"), (b"b", b"2")]);
        // The second value claims four billion bytes.
        bytes[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            pairs(&bytes).collect::<Vec<_>>(),
            vec![(&b"a"[..], &b"1"[..])]
        );
        // A count far beyond the buffer: its lengths cannot be there.
        let mut bytes = serialise(&[(b"a", b"1")]);
        bytes[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(pairs(&bytes).count(), 0);
    }
}
