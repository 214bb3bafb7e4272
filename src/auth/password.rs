//! Password hashing with Argon2id (the `argon2` crate), and the same work for unknown users.
//!
//! Parameters (OWASP's first recommendation for Argon2id): memory 19 MiB (`m = 19456` KiB),
//! 2 iterations, 1 lane, 32-byte output, 16-byte random salt; stored as a PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$…`), so changed parameters apply to new hashes while old
//! ones still verify. Verification compares the outputs in constant time (the `password-hash`
//! crate's `Output` equality is `subtle`'s). A login for an unknown user verifies against a
//! dummy hash with the same parameters, so it costs the same hash work as a known one.

use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;

use super::crypto::random_bytes;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB (default 19456 = 19 MiB).
    pub memory_kib: u32,
    /// Iterations (default 2).
    pub iterations: u32,
    /// Lanes (default 1).
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> PasswordParams {
        PasswordParams {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Why hashing failed (never carries the password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Invalid Argon2 parameters.
    #[error("invalid Argon2 parameters")]
    Params,
    /// Hashing failed (random source or the hashing task).
    #[error("password hashing failed")]
    Hashing,
}

impl Default for Passwords {
    /// The default parameters ([`PasswordParams::default`]).
    fn default() -> Passwords {
        let params = PasswordParams::default();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT);
        Passwords::with(argon, params)
    }
}

/// Hashes and verifies passwords; counts the hash computations it runs (for tests and
/// monitoring: an unknown user's login must count one, as a known user's does).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use expanse::auth::{PasswordParams, Passwords};
/// let p = Passwords::new(PasswordParams { memory_kib: 64, iterations: 1, parallelism: 1 }).unwrap();
/// let hash = p.hash("correct horse").await.unwrap();
/// assert!(p.verify("correct horse", Some(&hash)).await);
/// assert!(!p.verify("wrong", Some(&hash)).await);
/// assert!(!p.verify("anything", None).await); // the dummy hash: same work, always false
/// assert_eq!(p.work(), 4);
/// # });
/// ```
#[derive(Debug)]
pub struct Passwords {
    argon: Argon2<'static>,
    params: PasswordParams,
    dummy: String,
    work: AtomicU64,
}

impl Passwords {
    /// A hasher with these parameters.
    pub fn new(params: PasswordParams) -> Result<Passwords, PasswordError> {
        let argon_params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            Some(32),
        )
        .map_err(|_| PasswordError::Params)?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
        Ok(Passwords::with(argon, params))
    }

    fn with(argon: Argon2<'static>, params: PasswordParams) -> Passwords {
        // A PHC string with these parameters, a fixed salt and output: verifying against it
        // costs one hash, and its answer is never used (`verify` answers `false` for it).
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
        let (salt, output) = ([7u8; 16], [0u8; 32]);
        let dummy = format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            params.memory_kib,
            params.iterations,
            params.parallelism,
            b64.encode(salt),
            b64.encode(output)
        );
        Passwords {
            argon,
            params,
            dummy,
            work: AtomicU64::new(0),
        }
    }

    /// The parameters.
    pub fn params(&self) -> PasswordParams {
        self.params
    }

    /// How many hashes this hasher computed (hash + verify, dummy included).
    pub fn work(&self) -> u64 {
        self.work.load(Ordering::Relaxed)
    }

    /// Hashes a password (on a blocking thread) into a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        self.work.fetch_add(1, Ordering::Relaxed);
        let argon = self.argon.clone();
        let password = password.to_owned();
        let salt_bytes = random_bytes(16).map_err(|_| PasswordError::Hashing)?;
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::encode_b64(&salt_bytes).map_err(|_| PasswordError::Hashing)?;
            argon
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|_| PasswordError::Hashing)
        })
        .await
        .map_err(|_| PasswordError::Hashing)?
    }

    /// Whether `password` matches `stored` (a PHC string); with no stored hash (unknown user,
    /// or one that must reset their password) the dummy hash is verified instead, so the work
    /// is the same, and the answer is `false`.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        self.work.fetch_add(1, Ordering::Relaxed);
        let known = stored.is_some();
        let phc = stored.unwrap_or(&self.dummy).to_owned();
        let argon = self.argon.clone();
        let password = password.to_owned();
        let matched = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc)
                .map(|hash| argon.verify_password(password.as_bytes(), &hash).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        known && matched
    }
}
