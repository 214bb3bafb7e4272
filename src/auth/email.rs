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
/// use expanse::auth::{BoxFuture, Email, EmailSender};
/// #[derive(Default)]
/// struct Outbox(Mutex<Vec<Email>>);
/// impl EmailSender for Outbox {
///     fn send<'a>(&'a self, email: Email) -> BoxFuture<'a, Result<(), String>> {
///         Box::pin(async move {
///             self.0.lock().map_err(|e| e.to_string())?.push(email);
///             Ok(())
///         })
///     }
/// }
/// let _sender: Arc<dyn EmailSender> = Arc::new(Outbox::default());
/// ```
pub trait EmailSender: Send + Sync {
    /// Sends one email; an error fails the operation that asked for it.
    fn send<'a>(&'a self, email: Email) -> BoxFuture<'a, Result<(), String>>;
}

/// `url` with `token` and `tokenId` query parameters (both hex: no escaping needed).
pub(crate) fn link(url: &str, token: &str, token_id: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}token={token}&tokenId={token_id}")
}
