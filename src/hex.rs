//! Lowercase hexadecimal text of bytes, and back: token hashes, signatures, the JavaScript
//! bridge's binary values.

/// `[0xab, 0x01]` → `"ab01"`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// `"ab01"` (either case) → `[0xab, 0x01]`; `None` for an odd length or a non-hex digit.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};

    #[test]
    fn round_trips_and_refuses_what_is_not_hex() {
        assert_eq!(encode(&[0xab, 0x01, 0xff]), "ab01ff");
        assert_eq!(decode("ab01FF"), Some(vec![0xab, 0x01, 0xff]));
        assert_eq!(decode(""), Some(vec![]));
        for bad in ["abc", "zz", "+1", "é1"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
