//! `local-userpass` (https://www.mongodb.com/docs/atlas/app-services/authentication/email-password/): registration, confirmation (auto, function, email),
//! password reset (function, email), login.
//!
//! Accounts live in `userpass_accounts` (`_id` = the email, case-sensitive as in App
//! Services; the unique `_id` makes concurrent registrations of one email yield one account).
//! Confirmation and reset tokens live in `userpass_tokens`: `_id` = the token id, the token's
//! SHA-256, the email, the purpose, and an expiry 30 minutes out (TTL index); a token is used
//! once (deleted on use, conditionally, so two concurrent uses cannot both succeed).

use std::time::Duration;

use bson::{doc, Bson, DateTime, Document};

use super::{status_of, Authenticated};
use crate::auth::crypto::{constant_time_eq, random_hex, sha256_hex};
use crate::auth::email::{link, Email, EmailKind};
use crate::auth::error::AuthError;
use crate::auth::service::{identity, Auth, NORMAL};
use crate::store::{Store, StoreError, Write};
use crate::users::{collections, delete_all, find_one, modify};

/// Confirmation and reset tokens' lifetime.
pub const USERPASS_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Shortest and longest password, in characters.
const PASSWORD_LENGTH: (usize, usize) = (6, 128);

/// An email/password account's state after registration or confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    /// Waiting for confirmation.
    Pending,
    /// Confirmed: the user can log in.
    Confirmed,
}

fn check_password(password: &str) -> Result<(), AuthError> {
    let n = password.chars().count();
    if n < PASSWORD_LENGTH.0 || n > PASSWORD_LENGTH.1 {
        return Err(AuthError::BadRequest(
            "password must be between 6 and 128 characters".into(),
        ));
    }
    Ok(())
}

fn check_email(email: &str) -> Result<(), AuthError> {
    let n = email.chars().count();
    if n == 0 || n > 128 || !email.contains('@') {
        return Err(AuthError::BadRequest("invalid email address".into()));
    }
    Ok(())
}

fn random(n: usize) -> Result<String, AuthError> {
    random_hex(n).map_err(|e| AuthError::Config(e.to_string()))
}

impl<S: Store + Clone> Auth<S> {
    fn accounts(&self) -> crate::store::Namespace {
        self.users.config().namespace(collections::USERPASS)
    }

    fn userpass_tokens(&self) -> crate::store::Namespace {
        self.users.config().namespace(collections::USERPASS_TOKENS)
    }

    /// Removes the confirmation or reset token `token_id` (used, or refused by its function).
    async fn drop_token(&self, token_id: &str) -> Result<(), AuthError> {
        delete_all(&self.store, &self.userpass_tokens(), doc! {"_id": token_id}).await?;
        Ok(())
    }

    async fn account(&self, email: &str) -> Result<Option<Document>, AuthError> {
        Ok(find_one(&self.store, &self.accounts(), doc! {"_id": email}).await?)
    }

    /// Registers an email/password account (`/register`). The password is hashed first, so a
    /// taken email costs the same work. Confirmation runs per the provider's mode: `autoConfirm`
    /// confirms at once; the confirmation function gets `{token, tokenId, username}` and
    /// answers `success` (confirmed), `pending` (confirm later with the token) or `fail` (no
    /// account is kept); email mode sends the link through the [`crate::auth::EmailSender`].
    pub async fn register(&self, email: &str, password: &str) -> Result<AccountStatus, AuthError> {
        self.start().await?;
        let provider = self.provider("local-userpass")?.clone();
        check_email(email)?;
        check_password(password)?;
        let hash = self.passwords.hash(password).await?;
        let auto = provider.flag("autoConfirm");
        let account = doc! {
            "_id": email,
            "identity_id": bson::oid::ObjectId::new().to_hex(),
            "password_hash": hash,
            "status": if auto { "confirmed" } else { "pending" },
            "reset_required": false,
            "created": DateTime::now(),
        };
        match self
            .store
            .apply(&self.accounts(), vec![Write::Insert(account)])
            .await
        {
            Ok(()) => {}
            Err(StoreError::DuplicateKey { .. }) => return Err(AuthError::AccountNameInUse),
            Err(e) => return Err(e.into()),
        }
        if auto {
            return Ok(AccountStatus::Confirmed);
        }
        match self.run_confirmation(email).await {
            Ok(status) => Ok(status),
            Err(e) => {
                // No account is kept: the email can register again.
                delete_all(&self.store, &self.accounts(), doc! {"_id": email}).await?;
                delete_all(&self.store, &self.userpass_tokens(), doc! {"email": email}).await?;
                Err(e)
            }
        }
    }

    /// A new token for `email`; returns `(token, token_id)`.
    async fn new_token(&self, email: &str, purpose: &str) -> Result<(String, String), AuthError> {
        let (token, token_id) = (random(32)?, random(12)?);
        let expires = DateTime::from_millis(
            DateTime::now().timestamp_millis() + USERPASS_TOKEN_LIFETIME.as_millis() as i64,
        );
        self.store
            .apply(
                &self.userpass_tokens(),
                vec![Write::Insert(doc! {
                    "_id": token_id.clone(),
                    "token_hash": sha256_hex(&token),
                    "email": email,
                    "purpose": purpose,
                    "expires_at": expires,
                })],
            )
            .await?;
        Ok((token, token_id))
    }

    /// Uses a token once: it must exist, be for `purpose`, unexpired, and match (compared in
    /// constant time); it is deleted. Returns its email.
    async fn use_token(
        &self,
        token: &str,
        token_id: &str,
        purpose: &str,
    ) -> Result<String, AuthError> {
        let computed = sha256_hex(token);
        let ns = self.userpass_tokens();
        let Some(stored) = find_one(&self.store, &ns, doc! {"_id": token_id}).await? else {
            let _ = constant_time_eq(&computed, &sha256_hex(""));
            return Err(AuthError::UserpassTokenInvalid);
        };
        let matches = constant_time_eq(stored.get_str("token_hash").unwrap_or_default(), &computed);
        let live = stored
            .get_datetime("expires_at")
            .is_ok_and(|e| *e > DateTime::now());
        if !matches || !live || stored.get_str("purpose").ok() != Some(purpose) {
            return Err(AuthError::UserpassTokenInvalid);
        }
        let email = stored.get_str("email").unwrap_or_default().to_owned();
        match self
            .store
            .apply(&ns, vec![Write::Delete { pre: stored }])
            .await
        {
            Ok(()) => Ok(email),
            Err(StoreError::Conflict) => Err(AuthError::UserpassTokenInvalid),
            Err(e) => Err(e.into()),
        }
    }

    async fn set_account(
        &self,
        email: &str,
        edit: impl FnMut(&mut Document) -> bool,
    ) -> Result<(), AuthError> {
        modify(
            &self.store,
            &self.accounts(),
            Bson::String(email.into()),
            edit,
        )
        .await?
        .ok_or(AuthError::UserNotFound)?;
        Ok(())
    }

    /// Runs the confirmation flow of the provider for a pending account.
    async fn run_confirmation(&self, email: &str) -> Result<AccountStatus, AuthError> {
        let provider = self.provider("local-userpass")?.clone();
        if provider.flag("autoConfirm") {
            self.set_account(email, |a| {
                a.insert("status", "confirmed");
                true
            })
            .await?;
            return Ok(AccountStatus::Confirmed);
        }
        let (token, token_id) = self.new_token(email, "confirm").await?;
        if provider.flag("runConfirmationFunction") {
            let name = provider
                .text("confirmationFunctionName")
                .ok_or_else(|| AuthError::Config("no confirmationFunctionName".into()))?
                .to_owned();
            let answer = self
                .call(
                    &name,
                    vec![Bson::Document(
                        doc! {"token": token.clone(), "tokenId": token_id.clone(), "username": email},
                    )],
                )
                .await;
            let status = answer.as_ref().ok().and_then(status_of).map(str::to_owned);
            match (answer, status.as_deref()) {
                (Ok(_), Some("success")) => {
                    self.drop_token(&token_id).await?;
                    self.set_account(email, |a| {
                        a.insert("status", "confirmed");
                        true
                    })
                    .await?;
                    Ok(AccountStatus::Confirmed)
                }
                (Ok(_), Some("pending")) => Ok(AccountStatus::Pending),
                (answer, _) => {
                    self.drop_token(&token_id).await?;
                    answer?;
                    Err(AuthError::BadRequest(format!(
                        "failed to confirm user {email:?}"
                    )))
                }
            }
        } else {
            let url = provider
                .text("emailConfirmationUrl")
                .ok_or_else(|| AuthError::Config("no emailConfirmationUrl".into()))?;
            let subject = provider
                .text("confirmEmailSubject")
                .unwrap_or("Confirm your email address")
                .to_owned();
            self.send_email(Email {
                kind: EmailKind::Confirmation,
                to: email.to_owned(),
                subject,
                url: link(url, &token, &token_id),
                token,
                token_id,
            })
            .await?;
            Ok(AccountStatus::Pending)
        }
    }

    async fn send_email(&self, email: Email) -> Result<(), AuthError> {
        let sender = self
            .email
            .as_ref()
            .ok_or_else(|| AuthError::Config("no email sender is configured".into()))?;
        sender.send(email).await.map_err(|e| {
            // The reason is for the operator; the client learns only that sending failed.
            tracing::warn!(error = %e, "an email could not be sent");
            AuthError::Config("the email could not be sent".into())
        })
    }

    /// Confirms an account with the token of its confirmation (`/confirm`).
    pub async fn confirm(&self, token: &str, token_id: &str) -> Result<(), AuthError> {
        self.start().await?;
        self.provider("local-userpass")?;
        let email = self.use_token(token, token_id, "confirm").await?;
        self.set_account(&email, |a| {
            a.insert("status", "confirmed");
            true
        })
        .await
        .map_err(|_| AuthError::UserpassTokenInvalid)
    }

    async fn pending_account(&self, email: &str) -> Result<(), AuthError> {
        let account = self.account(email).await?.ok_or(AuthError::UserNotFound)?;
        if account.get_str("status").ok() == Some("confirmed") {
            return Err(AuthError::UserAlreadyConfirmed);
        }
        Ok(())
    }

    /// Sends the confirmation email again (`/confirm/send`; email mode only).
    pub async fn resend_confirmation(&self, email: &str) -> Result<(), AuthError> {
        self.start().await?;
        let provider = self.provider("local-userpass")?;
        if provider.flag("autoConfirm") || provider.flag("runConfirmationFunction") {
            return Err(AuthError::BadRequest(
                "confirmation is not by email for this app".into(),
            ));
        }
        self.pending_account(email).await?;
        self.run_confirmation(email).await.map(|_| ())
    }

    /// Runs the configured confirmation flow again (`/confirm/call`). A `fail` answer leaves
    /// the account pending.
    pub async fn retry_confirmation(&self, email: &str) -> Result<AccountStatus, AuthError> {
        self.start().await?;
        self.provider("local-userpass")?;
        self.pending_account(email).await?;
        self.run_confirmation(email).await
    }

    /// Sends a password reset email (`/reset/send`; refused when a reset function is
    /// configured).
    pub async fn send_password_reset(&self, email: &str) -> Result<(), AuthError> {
        self.start().await?;
        let provider = self.provider("local-userpass")?.clone();
        if provider.flag("runResetFunction") {
            return Err(AuthError::BadRequest(
                "a reset function is configured: use the reset function call".into(),
            ));
        }
        let url = provider
            .text("resetPasswordUrl")
            .ok_or_else(|| {
                AuthError::BadRequest("password reset by email is not configured".into())
            })?
            .to_owned();
        self.account(email).await?.ok_or(AuthError::UserNotFound)?;
        let (token, token_id) = self.new_token(email, "reset").await?;
        let subject = provider
            .text("resetPasswordSubject")
            .unwrap_or("Reset your password")
            .to_owned();
        self.send_email(Email {
            kind: EmailKind::PasswordReset,
            to: email.to_owned(),
            subject,
            url: link(&url, &token, &token_id),
            token,
            token_id,
        })
        .await
    }

    /// Sets a new password with a reset token (`/reset`). Every session of the user is
    /// revoked.
    pub async fn reset_password(
        &self,
        token: &str,
        token_id: &str,
        password: &str,
    ) -> Result<(), AuthError> {
        self.start().await?;
        self.provider("local-userpass")?;
        check_password(password)?;
        let email = self.use_token(token, token_id, "reset").await?;
        self.set_password(&email, password).await
    }

    async fn set_password(&self, email: &str, password: &str) -> Result<(), AuthError> {
        let hash = self.passwords.hash(password).await?;
        let mut identity_id = String::new();
        self.set_account(email, |a| {
            identity_id = a.get_str("identity_id").unwrap_or_default().to_owned();
            a.insert("password_hash", hash.clone());
            a.insert("reset_required", false);
            true
        })
        .await?;
        if let Some(user) = self.users.owner_of("local-userpass", &identity_id).await? {
            self.revoke(&user).await?;
        }
        Ok(())
    }

    /// Calls the reset function (`/reset/call`): its first argument is `{username, password,
    /// token, tokenId, currentPasswordValid}`, then `arguments`. `success` sets the password,
    /// `pending` keeps the token for a later `/reset`, `fail` (or a throw) changes nothing.
    pub async fn call_reset_function(
        &self,
        email: &str,
        password: &str,
        arguments: Vec<Bson>,
    ) -> Result<(), AuthError> {
        self.start().await?;
        let provider = self.provider("local-userpass")?.clone();
        if !provider.flag("runResetFunction") {
            return Err(AuthError::BadRequest(
                "no reset function is configured".into(),
            ));
        }
        let name = provider
            .text("resetFunctionName")
            .ok_or_else(|| AuthError::Config("no resetFunctionName".into()))?
            .to_owned();
        check_password(password)?;
        let account = self.account(email).await?.ok_or(AuthError::UserNotFound)?;
        let current_valid = self
            .passwords
            .verify(password, account.get_str("password_hash").ok())
            .await;
        let (token, token_id) = self.new_token(email, "reset").await?;
        let mut args = vec![Bson::Document(doc! {
            "username": email,
            "password": password,
            "token": token,
            "tokenId": token_id.clone(),
            "currentPasswordValid": current_valid,
        })];
        args.extend(arguments);
        let answer = self.call(&name, args).await;
        let status = answer.as_ref().ok().and_then(status_of).map(str::to_owned);
        match (answer, status.as_deref()) {
            (Ok(_), Some("success")) => {
                self.drop_token(&token_id).await?;
                self.set_password(email, password).await
            }
            (Ok(_), Some("pending")) => Ok(()),
            (answer, _) => {
                self.drop_token(&token_id).await?;
                answer?;
                Err(AuthError::BadRequest(format!(
                    "failed to reset password for user {email:?}"
                )))
            }
        }
    }

    /// Checks an email and password. An unknown email verifies against a dummy hash (the same
    /// work) and gets the same answer as a wrong password.
    pub(crate) async fn userpass_login(
        &self,
        email: &str,
        password: &str,
    ) -> Result<Authenticated, AuthError> {
        let account = self.account(email).await?;
        let hash = account
            .as_ref()
            .and_then(|a| a.get_str("password_hash").ok())
            .map(str::to_owned);
        let valid = self.passwords.verify(password, hash.as_deref()).await;
        let Some(account) = account else {
            return Err(AuthError::InvalidPassword);
        };
        if hash.is_none() && account.get_bool("reset_required").unwrap_or(false) {
            return Err(AuthError::PasswordResetRequired);
        }
        if !valid {
            return Err(AuthError::InvalidPassword);
        }
        if account.get_str("status").ok() != Some("confirmed") {
            return Err(AuthError::ConfirmationRequired);
        }
        let identity_id = account
            .get_str("identity_id")
            .map_err(|_| AuthError::Config("malformed email/password account".into()))?;
        Ok(Authenticated {
            identity: identity(identity_id, "local-userpass", Document::new()),
            user_data: doc! {"email": email},
            user_type: NORMAL,
            owner: None,
        })
    }

    /// Creates a confirmed account that must reset its password before logging in (imports:
    /// App Services never exported password hashes).
    pub async fn import_userpass_account(
        &self,
        email: &str,
        identity_id: &str,
    ) -> Result<(), AuthError> {
        self.start().await?;
        let account = doc! {
            "_id": email,
            "identity_id": identity_id,
            "status": "confirmed",
            "reset_required": true,
            "created": DateTime::now(),
        };
        match self
            .store
            .apply(&self.accounts(), vec![Write::Insert(account)])
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::DuplicateKey { .. }) => Err(AuthError::AccountNameInUse),
            Err(e) => Err(e.into()),
        }
    }

    /// Confirms a pending account without a token (the Admin API's confirm).
    pub async fn confirm_account(&self, email: &str) -> Result<(), AuthError> {
        self.start().await?;
        self.pending_account(email).await?;
        self.set_account(email, |a| {
            a.insert("status", "confirmed");
            true
        })
        .await?;
        delete_all(
            &self.store,
            &self.userpass_tokens(),
            doc! {"email": email, "purpose": "confirm"},
        )
        .await?;
        Ok(())
    }

    /// Removes the account of an email/password identity and its tokens.
    pub(crate) async fn forget_account(&self, identity_id: &str) -> Result<(), AuthError> {
        let accounts = self
            .store
            .find(
                &self.accounts(),
                &doc! {"identity_id": identity_id},
                &crate::store::FindOptions::default(),
            )
            .await?;
        for account in accounts {
            let email = account.get_str("_id").unwrap_or_default().to_owned();
            delete_all(&self.store, &self.userpass_tokens(), doc! {"email": &email}).await?;
            delete_all(&self.store, &self.accounts(), doc! {"_id": &email}).await?;
        }
        Ok(())
    }
}
