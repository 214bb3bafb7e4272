//! Importing an App Services user export (the Admin API's user list: `_id`, `identities`,
//! `data`, `type`, `creation_date`, `last_authentication_date`, `disabled`).
//!
//! Users keep their ids, so app data that names them (`owner_id`, custom user data) keeps its
//! owners; custom-token and custom-function users log in as before. Email/password users get
//! an account that must reset its password (App Services never exported password hashes). API
//! keys' secrets were never exported either: their users are imported, their keys must be
//! created again.

use bson::{Bson, Document};
use serde_json::Value;

use super::error::AuthError;
use super::service::Auth;
use crate::store::Store;
use crate::users::{Identity, StoredUser, UsersError};
use crate::UserType;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    /// Users created.
    pub created: usize,
    /// Email/password accounts created in the reset-required state.
    pub reset_required: usize,
    /// Users not imported: `(id, reason)` (an existing id or identity, a malformed entry).
    pub skipped: Vec<(String, String)>,
    /// Users imported with a problem (for example an email/password identity without
    /// `data.email`, which cannot log in until an administrator gives it an account).
    pub warnings: Vec<(String, String)>,
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("$oid").and_then(|v| v.as_str()).map(str::to_owned),
        _ => None,
    }
}

fn seconds(value: Option<&Value>) -> i64 {
    match value {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        Some(Value::Object(o)) => o
            .get("$numberLong")
            .or_else(|| o.get("$numberInt"))
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

fn document(value: Option<&Value>) -> Document {
    match value.cloned().map(Bson::try_from) {
        Some(Ok(Bson::Document(d))) => d,
        _ => Document::new(),
    }
}

/// One exported user, or why it cannot be imported.
fn parse(entry: &Value) -> Result<StoredUser, String> {
    let id = text(entry.get("_id")).ok_or("no _id")?;
    if id.len() != 24 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("the _id is not a 24-hex ObjectId".into());
    }
    let user_type = match entry.get("type").and_then(|t| t.as_str()) {
        Some("server") => UserType::Server,
        Some("normal") | None => UserType::Normal,
        Some(_) => return Err("unknown user type".into()),
    };
    let mut identities = Vec::new();
    for i in entry
        .get("identities")
        .and_then(|i| i.as_array())
        .cloned()
        .unwrap_or_default()
    {
        let identity_id = text(i.get("id")).ok_or("an identity has no id")?;
        let provider_type =
            text(i.get("provider_type")).ok_or("an identity has no provider_type")?;
        let data = document(i.get("data").or_else(|| i.get("provider_data")));
        identities.push(Identity::new(identity_id, provider_type).with_data(data));
    }
    if identities.is_empty() {
        return Err("no identities".into());
    }
    Ok(StoredUser {
        id: id.to_lowercase(),
        user_type,
        data: document(entry.get("data")),
        identities,
        creation_date: seconds(entry.get("creation_date")),
        last_authentication_date: seconds(entry.get("last_authentication_date")),
        disabled: entry
            .get("disabled")
            .and_then(|d| d.as_bool())
            .unwrap_or(false),
    })
}

impl<S: Store + Clone> Auth<S> {
    /// Imports users from an export: a JSON array of users (or `{"users": [...]}`). Users
    /// whose id or identity exists are skipped, so an import can be run again.
    pub async fn import_users(&self, export: &Value) -> Result<ImportReport, AuthError> {
        self.start().await?;
        let entries = match export {
            Value::Array(items) => items.clone(),
            Value::Object(o) => o
                .get("users")
                .and_then(|u| u.as_array())
                .cloned()
                .ok_or_else(|| AuthError::BadRequest("an export is an array of users".into()))?,
            _ => {
                return Err(AuthError::BadRequest(
                    "an export is an array of users".into(),
                ))
            }
        };
        let mut report = ImportReport::default();
        for entry in &entries {
            let label = text(entry.get("_id")).unwrap_or_else(|| "(no _id)".into());
            let user = match parse(entry) {
                Ok(u) => u,
                Err(reason) => {
                    report.skipped.push((label, reason));
                    continue;
                }
            };
            if self.users.get(&user.id).await?.is_some() {
                report.skipped.push((label, "the user exists".into()));
                continue;
            }
            match self.users.insert(&user).await {
                Ok(()) => report.created += 1,
                Err(UsersError::IdentityTaken) => {
                    report
                        .skipped
                        .push((label, "an identity belongs to another user".into()));
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            for identity in user
                .identities
                .iter()
                .filter(|i| i.provider_type == "local-userpass")
            {
                let Ok(email) = user.data.get_str("email") else {
                    report.warnings.push((
                        label.clone(),
                        "an email/password identity without data.email".into(),
                    ));
                    continue;
                };
                match self.import_userpass_account(email, &identity.id).await {
                    Ok(()) => report.reset_required += 1,
                    Err(AuthError::AccountNameInUse) => report
                        .warnings
                        .push((label.clone(), "the email already has an account".into())),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(report)
    }
}
