//! `custom-token` with `useJWKURI` pointing at a URL: the default fetcher (`HttpJwksFetcher`)
//! against a real local HTTP server serving a JWK set — fetched once for many logins, read
//! again on key rotation, at most once per 30 s for unknown `kid`s, and every failure of the
//! identity provider refusing the login (fail closed).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use expanse::auth::{AuthError, Credential, HttpJwksFetcher, JwksError, JwksFetcher};
use expanse::store::MemoryStore;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, Jwk, JwkSet, RSAKeyParameters, RSAKeyType,
};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

use super::custom_jwt::rsa_components;
use super::{app, auth, Outbox};

/// What the identity provider answers.
#[derive(Clone)]
enum Answer {
    Keys(String),
    Status(u16),
    Garbage,
    Slow,
    Huge,
}

#[derive(Clone)]
struct Idp {
    answer: Arc<Mutex<Answer>>,
    requests: Arc<AtomicUsize>,
}

impl Idp {
    fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }
    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn jwks(State(idp): State<Idp>) -> Response {
    idp.requests.fetch_add(1, Ordering::SeqCst);
    let answer = idp.answer.lock().unwrap().clone();
    match answer {
        Answer::Keys(body) => ([("content-type", "application/json")], body).into_response(),
        Answer::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Answer::Garbage => "<html>not a key set</html>".into_response(),
        Answer::Slow => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "{}".into_response()
        }
        Answer::Huge => {
            format!("{{\"keys\": [], \"pad\": \"{}\"}}", "x".repeat(4096)).into_response()
        }
    }
}

/// A local identity provider on 127.0.0.1 serving `/jwks`.
async fn identity_provider(answer: Answer) -> (Idp, String) {
    let idp = Idp {
        answer: Arc::new(Mutex::new(answer)),
        requests: Arc::new(AtomicUsize::new(0)),
    };
    let router = Router::new()
        .route("/jwks", get(jwks))
        .with_state(idp.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (idp, url)
}

fn jwk(kid: &str, public_pem: &str) -> Jwk {
    let (n, e) = rsa_components(&std::fs::read_to_string(public_pem).unwrap());
    Jwk {
        common: CommonParameters {
            key_id: Some(kid.into()),
            ..Default::default()
        },
        algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
            key_type: RSAKeyType::RSA,
            n,
            e,
        }),
    }
}

/// Key `a` is tests/keys/rsa_*.pem, key `b` tests/keys/rsa2_*.pem.
fn key_set(kids: &[&str]) -> Answer {
    let keys = kids
        .iter()
        .map(|kid| match *kid {
            "a" => jwk("a", "tests/keys/rsa_public.pem"),
            "b" => jwk("b", "tests/keys/rsa2_public.pem"),
            other => panic!("no key {other}"),
        })
        .collect();
    Answer::Keys(serde_json::to_string(&JwkSet { keys }).unwrap())
}

/// A token signed with key `signer` (`a` or `b`) naming `kid`.
fn token(signer: &str, kid: &str, sub: &str) -> Credential {
    let pem = match signer {
        "a" => "tests/keys/rsa_private.pem",
        _ => "tests/keys/rsa2_private.pem",
    };
    let key = EncodingKey::from_rsa_pem(&std::fs::read(pem).unwrap()).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let claims = json!({"sub": sub, "aud": "aud-a", "exp": exp});
    Credential::CustomToken {
        token: encode(&header, &claims, &key).unwrap(),
    }
}

fn providers(url: &str) -> String {
    format!(
        r#"{{"custom-token": {{"name": "custom-token", "type": "custom-token", "disabled": false,
        "config": {{"audience": "aud-a", "signingAlgorithm": "RS256", "useJWKURI": true, "jwkURI": "{url}"}}}}}}"#
    )
}

#[tokio::test]
async fn jwk_url_is_fetched_once_and_again_on_rotation() {
    let (idp, url) = identity_provider(key_set(&["a"])).await;
    let test = app(&providers(&url));
    let store = MemoryStore::new();
    let auth = auth(&test, &store, Arc::new(Outbox::default()));

    // several logins (some concurrent) with key a: one fetch
    let first = auth.login_with(token("a", "a", "u1"), None).await.unwrap();
    let (two, three) = tokio::join!(
        auth.login_with(token("a", "a", "u1"), None),
        auth.login_with(token("a", "a", "u2"), None)
    );
    assert_eq!(two.unwrap().user.id, first.user.id);
    assert_ne!(three.unwrap().user.id, first.user.id);
    assert_eq!(idp.requests(), 1);

    // a token signed by a but naming kid a with the wrong key is refused without a fetch
    let forged = auth.login_with(token("b", "a", "u1"), None).await;
    assert!(
        matches!(
            forged,
            Err(AuthError::Token(_)) | Err(AuthError::CustomToken(_))
        ),
        "{forged:?}"
    );
    assert_eq!(idp.requests(), 1);

    // rotation: the provider now publishes key b; a token with kid b makes one read, and works
    idp.set(key_set(&["b"]));
    let rotated = auth.login_with(token("b", "b", "u3"), None).await.unwrap();
    assert_eq!(rotated.user.identities[0].get_str("id").unwrap(), "u3");
    assert_eq!(idp.requests(), 2);
    auth.login_with(token("b", "b", "u3"), None).await.unwrap();
    assert_eq!(idp.requests(), 2);

    // an unknown kid twice within 30 s: one read, both refused; key a (gone from the set)
    // is refused too without another read
    for _ in 0..2 {
        let err = auth
            .login_with(token("a", "zzz", "u4"), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("kid"), "{err}");
    }
    assert_eq!(idp.requests(), 3);
    let err = auth
        .login_with(token("a", "a", "u1"), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("kid"), "{err}");
    assert_eq!(idp.requests(), 3);
}

#[tokio::test]
async fn unknown_kid_on_a_cold_cache_reads_the_set_once() {
    let (idp, url) = identity_provider(key_set(&["a"])).await;
    let test = app(&providers(&url));
    let store = MemoryStore::new();
    let auth = auth(&test, &store, Arc::new(Outbox::default()));
    for _ in 0..3 {
        assert!(auth.login_with(token("b", "b", "u"), None).await.is_err());
    }
    assert_eq!(idp.requests(), 1);
}

/// The provider failing in each way refuses the login, with a clear error and no panic.
#[tokio::test]
async fn identity_provider_failures_refuse_the_login() {
    let (idp, url) = identity_provider(Answer::Status(500)).await;
    let test = app(&providers(&url));
    let store = MemoryStore::new();
    let auth = auth(&test, &store, Arc::new(Outbox::default()));

    let err = auth
        .login_with(token("a", "a", "u1"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::Jwks(JwksError::Status { status: 500, .. })),
        "{err:?}"
    );
    assert_eq!((err.code(), err.status()), ("InternalServerError", 503));
    assert!(err.to_string().contains("answered HTTP 500"), "{err}");

    idp.set(Answer::Garbage);
    let err = auth
        .login_with(token("a", "a", "u1"), None)
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::Jwks(JwksError::Invalid), "{err}");
    assert!(err.to_string().contains("not valid"), "{err}");

    // failures are not cached: once the provider is back, logins work
    idp.set(key_set(&["a"]));
    auth.login_with(token("a", "a", "u1"), None).await.unwrap();

    // the provider down: nothing listens on the port any more
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}/jwks", listener.local_addr().unwrap());
    drop(listener);
    let test = app(&providers(&down));
    let auth = super::auth(&test, &store, Arc::new(Outbox::default()));
    let err = auth
        .login_with(token("a", "a", "u1"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::Jwks(JwksError::Unreachable { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("could not be reached"), "{err}");
    assert_eq!(err.status(), 503);
}

#[tokio::test]
async fn fetcher_time_and_size_limits() {
    let (idp, url) = identity_provider(Answer::Slow).await;
    let test = app(&providers(&url));
    let store = MemoryStore::new();
    let fetcher = HttpJwksFetcher::new()
        .with_timeout(Duration::from_millis(300))
        .with_max_body(1024);
    let auth =
        auth(&test, &store, Arc::new(Outbox::default())).with_jwks_fetcher(Arc::new(fetcher));
    let started = Instant::now();
    let err = auth
        .login_with(token("a", "a", "u1"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::Jwks(JwksError::Timeout { .. })),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    idp.set(Answer::Huge);
    let err = auth
        .login_with(token("a", "a", "u1"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::Jwks(JwksError::TooLarge { limit: 1024, .. })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn plain_http_only_to_loopback_hosts() {
    // at configuration: `expanse check` / App::load report it at the jwkURI
    let dir = tempfile::tempdir().unwrap();
    super::write_app(dir.path(), &providers("http://idp.example.com/jwks"));
    let err = expanse::App::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("providers.json:"), "{err}");
    assert!(
        err.contains("https://") && err.contains("idp.example.com"),
        "{err}"
    );
    // https anywhere, http to this machine: accepted
    for ok in [
        "https://idp.example.com/jwks",
        "http://localhost:9/jwks",
        "http://[::1]:9/jwks",
    ] {
        super::write_app(dir.path(), &providers(ok));
        assert!(expanse::App::load(dir.path()).is_ok(), "{ok}");
    }
    // at first use, for a fetcher used directly
    let err = HttpJwksFetcher::new()
        .fetch("http://10.1.2.3/jwks")
        .await
        .unwrap_err();
    assert!(matches!(err, JwksError::Insecure { .. }), "{err:?}");
    let err = HttpJwksFetcher::new()
        .fetch("ftp://idp.example.com/jwks")
        .await
        .unwrap_err();
    assert_eq!(err, JwksError::BadUrl);
}
