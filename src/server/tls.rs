//! HTTPS: `expanse serve --tls-cert PEM --tls-key PEM` (rustls with the ring provider, the
//! same TLS stack the MongoDB driver uses; HTTP/1.1).
//!
//! Connections are accepted on a background task and each handshake runs on its own task,
//! bounded by [`HANDSHAKE_TIMEOUT`]: a client that never finishes its handshake holds nothing
//! but its own task. A failed handshake is logged at debug level and dropped.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client has to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the server to take them.
const BACKLOG: usize = 128;

/// Why the certificate or the key cannot be used; each names its file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file holds no readable PEM certificate.
    #[error("--tls-cert {path}: no PEM certificate could be read ({reason})")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The key file holds no readable PEM private key.
    #[error("--tls-key {path}: no PEM private key could be read ({reason})")]
    Key {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the pair (for instance a key that does not match the certificate).
    #[error("--tls-cert {cert} with --tls-key {key}: {reason}")]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        reason: String,
    },
}

/// Reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1) into a server
/// configuration offering HTTP/1.1.
///
/// ```no_run
/// let config = expanse::server::tls::load_config("cert.pem".as_ref(), "key.pem".as_ref()).unwrap();
/// ```
pub fn load_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|items| items.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certificate {
            path: cert.to_owned(),
            reason: e.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.to_owned(),
            reason: "the file has no CERTIFICATE section".into(),
        });
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_owned(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_no_client_auth()
                .with_single_cert(certificates, private_key)
        })
        .map_err(|e| TlsError::Pair {
            cert: cert.to_owned(),
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener handing out TLS connections that completed their handshake.
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Accepts on `listener` with `config`.
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (sender, ready) = mpsc::channel(BACKLOG);
        let accepting = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!(target: "expanse::tls", "accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let handoff = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = handoff.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(target: "expanse::tls", %peer, "TLS handshake failed: {e}")
                        }
                        Err(_) => {
                            tracing::debug!(target: "expanse::tls", %peer, "TLS handshake timed out")
                        }
                    }
                });
                if sender.is_closed() {
                    break;
                }
            }
        });
        Ok(TlsListener {
            local,
            ready,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task ended (it never does while the listener lives): wait for
            // the shutdown that follows.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
