//! Confirmation and reset emails for `local-userpass` in email mode: Expanse builds the
//! message, an [`EmailSender`] the embedding application gives delivers it (no SMTP in the
//! core).

use super::service::BoxFuture;

/// What an email is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    /// Confirm a new account (`emailConfirmationUrl`, `confirmEmailSubject`).
    Confirmation,
    /// Reset a password (`resetPasswordUrl`, `resetPasswordSubject`).
    PasswordReset,
}

/// One email to send. The link carries `token` and `tokenId` as query parameters, valid 30
/// minutes, once.
#[derive(Clone, PartialEq)]
pub struct Email {
    /// Confirmation or reset.
    pub kind: EmailKind,
    /// The recipient.
    pub to: String,
    /// The configured subject, or a default.
    pub subject: String,
    /// The configured URL with `token` and `tokenId` appended.
    pub url: String,
    /// The token (secret).
    pub token: String,
    /// The token id.
    pub token_id: String,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("kind", &self.kind)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Delivers emails (SMTP, an email API, a queue…).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use expanse::auth::{BoxFuture, Email, EmailSender, SendError};
/// #[derive(Default)]
/// struct Outbox(Mutex<Vec<Email>>);
/// impl EmailSender for Outbox {
///     fn send<'a>(&'a self, email: Email) -> BoxFuture<'a, Result<(), SendError>> {
///         Box::pin(async move {
///             self.0.lock().map_err(|_| "the outbox is poisoned")?.push(email);
///             Ok(())
///         })
///     }
/// }
/// let _sender: Arc<dyn EmailSender> = Arc::new(Outbox::default());
/// ```
pub trait EmailSender: Send + Sync {
    /// Sends one email; an error fails the operation that asked for it (the client is told
    /// only that the email could not be sent).
    fn send<'a>(&'a self, email: Email) -> BoxFuture<'a, Result<(), SendError>>;
}

/// Why an [`EmailSender`] could not send an email: a message, or the delivery's own error as
/// the source. Build one with `"message".into()`, `String::into`, or [`SendError::new`] around
/// any error (`.map_err(SendError::new)?`).
#[derive(Debug, thiserror::Error)]
#[error("the email could not be sent: {reason}")]
pub struct SendError {
    reason: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SendError {
    /// A send error caused by `error` (an SMTP client's, an HTTP API's…).
    ///
    /// ```
    /// use expanse::auth::SendError;
    /// let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "smtp timed out");
    /// let e = SendError::new(io);
    /// assert_eq!(e.to_string(), "the email could not be sent: smtp timed out");
    /// assert!(std::error::Error::source(&e).is_some());
    /// ```
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> SendError {
        let source = error.into();
        SendError {
            reason: source.to_string(),
            source: Some(source),
        }
    }
}

impl From<String> for SendError {
    fn from(reason: String) -> SendError {
        SendError {
            reason,
            source: None,
        }
    }
}

impl From<&str> for SendError {
    fn from(reason: &str) -> SendError {
        SendError::from(reason.to_owned())
    }
}

/// `url` with `token` and `tokenId` query parameters (both hex: no escaping needed).
pub(crate) fn link(url: &str, token: &str, token_id: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}token={token}&tokenId={token_id}")
}
