//! The ABI's serialised header maps (spec "Serialization"): a `u32` count,
//! then a `u32` length pair per entry, then each name and value followed by
//! a NUL byte; little-endian. Property paths are segments joined by NUL.

/// Serialises `(name, value)` pairs; an empty map is an empty buffer.
pub(crate) fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let pairs: Vec<_> = pairs.into_iter().collect();
    if pairs.is_empty() {
        return Vec::new();
    }
    let size = 4 + pairs
        .iter()
        .map(|(n, v)| 8 + n.len() + v.len() + 2)
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&len32(pairs.len()).to_le_bytes());
    for (name, value) in &pairs {
        out.extend_from_slice(&len32(name.len()).to_le_bytes());
        out.extend_from_slice(&len32(value.len()).to_le_bytes());
    }
    for (name, value) in &pairs {
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(value);
        out.push(0);
    }
    out
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Why a serialised map could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub String);

/// Name and value bytes, as the module sent them.
pub(crate) type Pair = (Vec<u8>, Vec<u8>);

/// Reads a serialised map the module sent. Accepts the empty encodings the
/// spec allows (no bytes, a single NUL) and a zero count.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<Pair>, Malformed> {
    if bytes.is_empty() || bytes == [0] {
        return Ok(Vec::new());
    }
    let word = |at: usize| -> Result<usize, Malformed> {
        let raw = bytes
            .get(at..at.checked_add(4).ok_or_else(|| overflow(at))?)
            .ok_or_else(|| Malformed(format!("map ends inside the length table at byte {at}")))?;
        let mut le = [0u8; 4];
        le.copy_from_slice(raw);
        Ok(u32::from_le_bytes(le) as usize)
    };
    let count = word(0)?;
    let table_end = count
        .checked_mul(8)
        .and_then(|n| n.checked_add(4))
        .ok_or_else(|| overflow(0))?;
    if table_end > bytes.len() {
        return Err(Malformed(format!(
            "map claims {count} entries but has {} bytes",
            bytes.len()
        )));
    }
    let mut pairs = Vec::with_capacity(count);
    let mut at = table_end;
    let mut take = |len: usize| -> Result<Vec<u8>, Malformed> {
        let end = at.checked_add(len).ok_or_else(|| overflow(at))?;
        let data = bytes
            .get(at..end)
            .ok_or_else(|| Malformed(format!("entry at byte {at} runs past the map")))?
            .to_vec();
        if bytes.get(end) != Some(&0) {
            return Err(Malformed(format!(
                "entry at byte {at} is not NUL-terminated"
            )));
        }
        at = end + 1;
        Ok(data)
    };
    for index in 0..count {
        let name_len = word(4 + index * 8)?;
        let value_len = word(8 + index * 8)?;
        let name = take(name_len)?;
        let value = take(value_len)?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

fn overflow(at: usize) -> Malformed {
    Malformed(format!("length overflow at byte {at}"))
}

/// Splits a serialised property path into its segments.
pub(crate) fn property_path(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == 0)
        .map(|segment| String::from_utf8_lossy(segment).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_round_trip_in_the_spec_layout() {
        let encoded = encode([("a", &b"1"[..]), ("b", &b"22"[..])]);
        assert_eq!(
            encoded,
            [
                2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, b'a', 0, b'1', 0, b'b',
                0, b'2', b'2', 0
            ]
        );
        assert_eq!(
            decode(&encoded),
            Ok(vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"22".to_vec())
            ])
        );
    }

    #[test]
    fn empty_and_truncated_maps() {
        assert_eq!(decode(b""), Ok(vec![]));
        assert_eq!(decode(&[0]), Ok(vec![]));
        assert_eq!(decode(&[0, 0, 0, 0]), Ok(vec![]));
        assert!(decode(&[1, 0, 0, 0]).is_err());
        assert!(decode(&[0xff, 0xff, 0xff, 0xff]).is_err());
        let mut encoded = encode([("a", &b"1"[..])]);
        encoded.pop();
        assert!(decode(&encoded).is_err());
    }

    #[test]
    fn property_paths_split_on_nul() {
        assert_eq!(property_path(b"plugin_name"), vec!["plugin_name"]);
        assert_eq!(property_path(b"request\0path"), vec!["request", "path"]);
    }
}
