//! The native half of `utils.crypto`, `utils.jwt` and `crypto.randomBytes`/`randomUUID`: the
//! prelude (`prelude_node.js`) calls `__native(op, a, b, c, d)` with strings (bytes as
//! hexadecimal) and gets back `"+" + result` or `"-" + error message`. Keys, messages and
//! tokens are data here, never code.
//!
//! Hashes, HMACs, AES-GCM and randomness come from `ring`, MD5 from `md-5`, JWT and RSA
//! signatures from `jsonwebtoken` (all already built for the MongoDB driver and token checks).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use md5::Digest as _;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac};
use serde_json::{Map, Value};

/// Why a native utility refused.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// A name the utility does not know (an algorithm, an encoding, a scheme).
    #[error("{what} {name:?} is not supported (supported: {supported})")]
    Unsupported {
        /// What was named.
        what: &'static str,
        /// The name given.
        name: String,
        /// What is supported.
        supported: &'static str,
    },
    /// An argument that is not what the utility takes.
    #[error("{0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> NativeError {
    NativeError::Invalid(message.into())
}

/// Runs `op` on its arguments: `"+result"` or `"-message"`.
pub fn call(op: &str, args: [&str; 4]) -> String {
    match dispatch(op, args) {
        Ok(out) => format!("+{out}"),
        Err(e) => format!("-{e}"),
    }
}

fn dispatch(op: &str, [a, b, c, d]: [&str; 4]) -> Result<String, NativeError> {
    match op {
        "hash" => hash(a, &unhex(b)?).map(|bytes| crate::hex::encode(&bytes)),
        "hmac" => hmac_text(a, &unhex(b)?, &unhex(c)?, d),
        "aesEncrypt" => aes_encrypt(&unhex(a)?, &unhex(b)?).map(|bytes| crate::hex::encode(&bytes)),
        "aesDecrypt" => aes_decrypt(&unhex(a)?, &unhex(b)?).map(|bytes| crate::hex::encode(&bytes)),
        "rsaSign" => rsa_sign(&unhex(a)?, b, c).map(|bytes| crate::hex::encode(&bytes)),
        "rsaVerify" => rsa_verify(&unhex(a)?, b, &unhex(c)?, d).map(|ok| ok.to_string()),
        "jwtEncode" => jwt_encode(a, b, c, d),
        "jwtDecode" => jwt_decode(a, b, c),
        "randomBytes" => {
            let n: usize = a.parse().map_err(|_| invalid("a byte count"))?;
            random(n).map(|bytes| crate::hex::encode(&bytes))
        }
        _ => Err(NativeError::Unsupported {
            what: "utility",
            name: op.to_owned(),
            supported: "the documented ones",
        }),
    }
}

fn unhex(text: &str) -> Result<Vec<u8>, NativeError> {
    crate::hex::decode(text).ok_or_else(|| invalid("malformed bytes from the prelude"))
}

/// `len` random bytes from the operating system.
pub fn random(len: usize) -> Result<Vec<u8>, NativeError> {
    if len > 65_536 {
        return Err(invalid("crypto.randomBytes: at most 65536 bytes at a time"));
    }
    let mut out = vec![0; len];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| invalid("the system's random source failed"))?;
    Ok(out)
}

fn hash(algorithm: &str, input: &[u8]) -> Result<Vec<u8>, NativeError> {
    let algorithm = match algorithm.to_ascii_lowercase().as_str() {
        "md5" => return Ok(md5::Md5::digest(input).to_vec()),
        "sha1" => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        "sha256" => &digest::SHA256,
        "sha384" => &digest::SHA384,
        "sha512" => &digest::SHA512,
        _ => {
            return Err(NativeError::Unsupported {
                what: "utils.crypto.hash: the algorithm",
                name: algorithm.to_owned(),
                supported: "md5, sha1, sha256, sha384, sha512",
            })
        }
    };
    Ok(digest::digest(algorithm, input).as_ref().to_vec())
}

fn hmac_text(
    algorithm: &str,
    input: &[u8],
    secret: &[u8],
    encoding: &str,
) -> Result<String, NativeError> {
    let algorithm = match algorithm.to_ascii_lowercase().as_str() {
        "sha1" => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        "sha256" => hmac::HMAC_SHA256,
        "sha384" => hmac::HMAC_SHA384,
        "sha512" => hmac::HMAC_SHA512,
        _ => {
            return Err(NativeError::Unsupported {
                what: "utils.crypto.hmac: the hash",
                name: algorithm.to_owned(),
                supported: "sha1, sha256, sha384, sha512",
            })
        }
    };
    let tag = hmac::sign(&hmac::Key::new(algorithm, secret), input);
    match encoding {
        "hex" => Ok(crate::hex::encode(tag.as_ref())),
        "base64" => Ok(STANDARD.encode(tag.as_ref())),
        _ => Err(NativeError::Unsupported {
            what: "utils.crypto.hmac: the output encoding",
            name: encoding.to_owned(),
            supported: "hex, base64",
        }),
    }
}

/// Length of the random nonce in front of an AES-GCM ciphertext.
const NONCE_LEN: usize = 12;

fn aes_key(key: &[u8]) -> Result<LessSafeKey, NativeError> {
    let algorithm = match key.len() {
        16 => &aead::AES_128_GCM,
        32 => &aead::AES_256_GCM,
        n => {
            return Err(invalid(format!(
                "utils.crypto: an AES key must be 16 or 32 bytes (AES-128 or AES-256), not {n}"
            )))
        }
    };
    let key = UnboundKey::new(algorithm, key).map_err(|_| invalid("utils.crypto: bad AES key"))?;
    Ok(LessSafeKey::new(key))
}

/// AES-GCM: a random 12-byte nonce, then the ciphertext and its 16-byte tag.
fn aes_encrypt(message: &[u8], key: &[u8]) -> Result<Vec<u8>, NativeError> {
    let key = aes_key(key)?;
    let nonce_bytes = random(NONCE_LEN)?;
    let nonce = Nonce::try_assume_unique_for_key(&nonce_bytes)
        .map_err(|_| invalid("utils.crypto.encrypt: bad nonce"))?;
    let mut sealed = message.to_vec();
    key.seal_in_place_append_tag(nonce, Aad::empty(), &mut sealed)
        .map_err(|_| invalid("utils.crypto.encrypt: the message is too long"))?;
    let mut out = nonce_bytes;
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn aes_decrypt(sealed: &[u8], key: &[u8]) -> Result<Vec<u8>, NativeError> {
    let key = aes_key(key)?;
    let refused = || {
        invalid("utils.crypto.decrypt: not a ciphertext of utils.crypto.encrypt with this key (or it was altered)")
    };
    let (nonce, body) = sealed.split_at_checked(NONCE_LEN).ok_or_else(refused)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refused())?;
    let mut body = body.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::empty(), &mut body)
        .map_err(|_| refused())?;
    Ok(plain.to_vec())
}

fn rsa_algorithm(scheme: &str, what: &'static str) -> Result<Algorithm, NativeError> {
    match scheme {
        "" | "pss" => Ok(Algorithm::PS256),
        "pkcs1v15" => Ok(Algorithm::RS256),
        _ => Err(NativeError::Unsupported {
            what,
            name: scheme.to_owned(),
            supported: "pss, pkcs1v15",
        }),
    }
}

fn rsa_sign(message: &[u8], private_key: &str, scheme: &str) -> Result<Vec<u8>, NativeError> {
    let algorithm = rsa_algorithm(scheme, "utils.crypto.sign: the scheme")?;
    let key = EncodingKey::from_rsa_pem(private_key.as_bytes()).map_err(|e| {
        invalid(format!(
            "utils.crypto.sign: the private key (PEM, PKCS#1 or PKCS#8): {e}"
        ))
    })?;
    let signature = jsonwebtoken::crypto::sign(message, &key, algorithm)
        .map_err(|e| invalid(format!("utils.crypto.sign: {e}")))?;
    URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| invalid(format!("utils.crypto.sign: {e}")))
}

fn rsa_verify(
    message: &[u8],
    public_key: &str,
    signature: &[u8],
    scheme: &str,
) -> Result<bool, NativeError> {
    let algorithm = rsa_algorithm(scheme, "utils.crypto.verify: the scheme")?;
    let key = DecodingKey::from_rsa_pem(public_key.as_bytes()).map_err(|e| {
        invalid(format!(
            "utils.crypto.verify: the public key (PEM, PKCS#1 or SubjectPublicKeyInfo): {e}"
        ))
    })?;
    let signature = URL_SAFE_NO_PAD.encode(signature);
    jsonwebtoken::crypto::verify(&signature, message, &key, algorithm)
        .map_err(|e| invalid(format!("utils.crypto.verify: {e}")))
}

const JWT_METHODS: &str =
    "HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384";

fn jwt_algorithm(name: &str, what: &'static str) -> Result<Algorithm, NativeError> {
    let algorithm = match name {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        _ => {
            return Err(NativeError::Unsupported {
                what,
                name: name.to_owned(),
                supported: JWT_METHODS,
            })
        }
    };
    Ok(algorithm)
}

fn is_hmac(algorithm: Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    )
}

fn is_ec(algorithm: Algorithm) -> bool {
    matches!(algorithm, Algorithm::ES256 | Algorithm::ES384)
}

/// `utils.jwt.encode(method, payload, secret, customHeaderFields)`: the payload and the custom
/// header fields as JSON text; the secret is an HMAC secret, or a PEM private key.
fn jwt_encode(
    method: &str,
    payload: &str,
    secret: &str,
    custom_header: &str,
) -> Result<String, NativeError> {
    let algorithm = jwt_algorithm(method, "utils.jwt.encode: the signing method")?;
    let mut header = match serde_json::from_str::<Value>(custom_header) {
        Ok(Value::Object(fields)) => fields,
        Ok(Value::Null) => Map::new(),
        _ => {
            return Err(invalid(
                "utils.jwt.encode: customHeaderFields must be an object",
            ))
        }
    };
    header.insert("alg".into(), Value::String(method.to_owned()));
    header
        .entry("typ")
        .or_insert_with(|| Value::String("JWT".into()));
    let payload: Value = serde_json::from_str(payload)
        .map_err(|_| invalid("utils.jwt.encode: the payload must be JSON"))?;
    if !payload.is_object() {
        return Err(invalid("utils.jwt.encode: the payload must be an object"));
    }
    let key = if is_hmac(algorithm) {
        EncodingKey::from_secret(secret.as_bytes())
    } else if is_ec(algorithm) {
        EncodingKey::from_ec_pem(secret.as_bytes())
            .map_err(|e| invalid(format!("utils.jwt.encode: the private key: {e}")))?
    } else {
        EncodingKey::from_rsa_pem(secret.as_bytes())
            .map_err(|e| invalid(format!("utils.jwt.encode: the private key: {e}")))?
    };
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, algorithm)
        .map_err(|e| invalid(format!("utils.jwt.encode: {e}")))?;
    Ok(format!("{signing_input}.{signature}"))
}

/// `utils.jwt.decode(token, key, returnHeader, acceptedSigningMethods)`: checks the signature
/// (with an algorithm of `accepted`, a JSON array, or any when it is `null`) and returns
/// `{"header": …, "payload": …}` as JSON text. Registered claims are not checked: App Services'
/// decode only verified the signature.
fn jwt_decode(token: &str, key: &str, accepted: &str) -> Result<String, NativeError> {
    let refused = |why: &str| invalid(format!("utils.jwt.decode: {why}"));
    let mut parts = token.split('.');
    let (Some(header_part), Some(payload_part), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refused("not a JWT (three dot-separated parts)"));
    };
    let read = |part: &str, what: &str| -> Result<Value, NativeError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| refused(&format!("the {what} is not base64url")))?;
        serde_json::from_slice(&bytes).map_err(|_| refused(&format!("the {what} is not JSON")))
    };
    let header = read(header_part, "header")?;
    let payload = read(payload_part, "payload")?;
    let method = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| refused("the header has no alg"))?;
    let algorithm = jwt_algorithm(method, "utils.jwt.decode: the signing method")?;
    match serde_json::from_str::<Value>(accepted) {
        Ok(Value::Null) => {}
        Ok(Value::Array(methods)) => {
            if !methods.iter().any(|m| m.as_str() == Some(method)) {
                return Err(refused(&format!(
                    "the token is signed with {method}, which is not among the accepted signing methods"
                )));
            }
        }
        _ => return Err(refused("acceptedSigningMethods must be an array of names")),
    }
    let key = if is_hmac(algorithm) {
        DecodingKey::from_secret(key.as_bytes())
    } else if is_ec(algorithm) {
        DecodingKey::from_ec_pem(key.as_bytes())
            .map_err(|e| refused(&format!("the public key: {e}")))?
    } else {
        DecodingKey::from_rsa_pem(key.as_bytes())
            .map_err(|e| refused(&format!("the public key: {e}")))?
    };
    let message = format!("{header_part}.{payload_part}");
    let valid = jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, algorithm)
        .map_err(|e| refused(&e.to_string()))?;
    if !valid {
        return Err(refused("the signature does not match"));
    }
    let mut out = Map::new();
    out.insert("header".into(), header);
    out.insert("payload".into(), payload);
    Ok(Value::Object(out).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_hmacs_match_known_values() {
        assert_eq!(
            crate::hex::encode(&hash("md5", b"abc").unwrap()),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            crate::hex::encode(&hash("sha1", b"abc").unwrap()),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            crate::hex::encode(&hash("sha256", b"abc").unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // RFC 4231, test case 2.
        assert_eq!(
            hmac_text("sha256", b"what do ya want for nothing?", b"Jefe", "hex").unwrap(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(hash("sha3", b"").unwrap_err().to_string().contains("sha3"));
    }

    #[test]
    fn aes_round_trips_and_refuses_tampering() {
        let key = [7u8; 32];
        let sealed = aes_encrypt(b"secret", &key).unwrap();
        assert_eq!(aes_decrypt(&sealed, &key).unwrap(), b"secret");
        let mut altered = sealed.clone();
        altered[NONCE_LEN] ^= 1;
        assert!(aes_decrypt(&altered, &key).is_err());
        assert!(aes_encrypt(b"x", &[0; 24]).is_err());
    }

    #[test]
    fn jwts_round_trip_with_custom_header_fields() {
        let token = jwt_encode("HS256", r#"{"sub":"a"}"#, "s3cret", r#"{"kid":"k1"}"#).unwrap();
        let decoded: Value =
            serde_json::from_str(&jwt_decode(&token, "s3cret", "null").unwrap()).unwrap();
        assert_eq!(decoded["payload"]["sub"], "a");
        assert_eq!(decoded["header"]["kid"], "k1");
        assert!(jwt_decode(&token, "wrong", "null").is_err());
        assert!(jwt_decode(&token, "s3cret", r#"["RS256"]"#).is_err());
    }
}
