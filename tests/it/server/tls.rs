//! `expanse serve --tls-cert/--tls-key`: HTTPS with a test certificate (`tls_certs/cert.pem`
//! for `localhost` and `127.0.0.1`, issued by the self-signed `ca.pem` whose key was thrown
//! away; both valid until 2126), spoken to with a rustls client that trusts only that CA; bad certificate or key files stop the start with the file named.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use super::Server;

fn certs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/server/tls_certs")
}

fn tls_args() -> (String, String) {
    (
        certs().join("cert.pem").display().to_string(),
        certs().join("key.pem").display().to_string(),
    )
}

/// One HTTPS request (connection closed afterwards): status line and body.
fn https_get(address: &str, path: &str) -> (String, String) {
    let mut roots = rustls::RootCertStore::empty();
    let cert = CertificateDer::from_pem_file(certs().join("ca.pem")).unwrap();
    roots.add(cert).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(address).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    // the server may close without close_notify after the response: keep what was read
    let _ = stream.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

#[test]
fn the_server_speaks_https_with_the_given_certificate() {
    let (cert, key) = tls_args();
    let server = Server::start(&["--tls-cert", &cert, "--tls-key", &key], &[]);
    let (status, body) = https_get(&server.address, "/health");
    assert!(status.starts_with("HTTP/1.1 200"), "{status} {body}");
    assert!(body.contains("\"ok\""), "{body}");
    // location reports the https origin
    let (status, body) = https_get(
        &server.address,
        &format!("/api/client/v2.0/app/{}/location", super::APP_ID),
    );
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(body.contains("\"hostname\":\"https://"), "{body}");
    // plain HTTP on the TLS port gets no HTTP answer
    let plain = server.request("GET", "/health", &[], b"");
    assert_ne!(plain.status, 200, "{plain:?}");
    // and the server goes on
    let (status, _) = https_get(&server.address, "/health");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
}

#[test]
fn https_endpoints_over_tls() {
    let (cert, key) = tls_args();
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/server/endpoints_app");
    let server = Server::start_app(&app, &["--tls-cert", &cert, "--tls-key", &key], &[]);
    let (status, body) = https_get(
        &server.address,
        "/app/expanse-endpoints/endpoint/system?a=b",
    );
    assert!(status.starts_with("HTTP/1.1 200"), "{status} {body}");
    assert!(body.contains(r#""query":{"a":"b"}"#), "{body}");
}

#[test]
fn bad_certificate_or_key_files_stop_the_start_naming_the_file() {
    let (cert, key) = tls_args();
    let missing = certs().join("missing.pem").display().to_string();
    let start = |cert: &str, key: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_expanse"))
            .arg("serve")
            .arg(super::app_dir())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                cert,
                "--tls-key",
                key,
            ])
            .env_remove("MONGODB_URI")
            .env("EXPANSE_JWT_SECRET", super::SECRET)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = start(&missing, &key);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("--tls-cert {missing}")), "{err}");
    // a certificate given as the key, a key given as the certificate
    let (code, err) = start(&cert, &cert);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("--tls-key {cert}")), "{err}");
    let (code, err) = start(&key, &key);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("--tls-cert {key}")), "{err}");
    // --tls-cert alone is refused by the argument parser
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_expanse"))
        .arg("serve")
        .arg(super::app_dir())
        .args(["--tls-cert", &cert])
        .env_remove("MONGODB_URI")
        .env_remove("EXPANSE_TLS_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}
