//! Random secrets, SHA-256 digests of high-entropy secrets, and constant-time comparison.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why the operating system's random source failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

/// `n` random bytes from the operating system.
pub(crate) fn random_bytes(n: usize) -> Result<Vec<u8>, RandomError> {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes).map_err(|_| RandomError)?;
    Ok(bytes)
}

/// `n` random bytes as lowercase hex (`2n` characters).
pub(crate) fn random_hex(n: usize) -> Result<String, RandomError> {
    Ok(hex(&random_bytes(n)?))
}

/// A random string of `len` ASCII letters and digits (unbiased: bytes ≥ 248 are redrawn).
pub(crate) fn random_alphanumeric(len: usize) -> Result<String, RandomError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes(len)? {
            if b < 248 && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

/// 32 random bytes (a throwaway HS256 secret).
pub fn random_secret() -> Result<Vec<u8>, RandomError> {
    random_bytes(32)
}

/// Lowercase hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    crate::hex::encode(bytes)
}

/// The SHA-256 of a high-entropy secret (session ids, tokens, API keys), as hex. Slow hashing
/// is for passwords; these secrets are 128 bits or more of randomness.
pub(crate) fn sha256_hex(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Compares two strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_have_their_shape() {
        let a = random_alphanumeric(64).unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_alphanumeric(64).unwrap());
        assert_eq!(random_hex(16).unwrap().len(), 32);
        assert!(constant_time_eq(&sha256_hex("x"), &sha256_hex("x")));
        assert!(!constant_time_eq(&sha256_hex("x"), &sha256_hex("y")));
        assert!(!constant_time_eq("ab", "abc"));
    }
}
