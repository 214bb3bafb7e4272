//! `api-key` (https://www.mongodb.com/docs/atlas/app-services/authentication/api-key/): user API keys (up to 20 per user, logging in as their owner) and
//! server API keys (each creates a `server` user). The secret is returned once, at creation;
//! only its SHA-256 is stored (`api_keys`, unique index on the hash and on owner + name).

use bson::{doc, oid::ObjectId, Bson, DateTime, Document};

use super::Authenticated;
use crate::auth::crypto::{constant_time_eq, random_alphanumeric, sha256_hex};
use crate::auth::error::AuthError;
use crate::auth::service::{identity, Auth};
use crate::store::{FindOptions, Store, StoreError, Write};
use crate::users::{collections, delete_all, find_one, modify, StoredUser};
use crate::UserType;

/// Most user API keys per user.
pub const USER_KEY_LIMIT: u64 = 20;
/// Most server API keys per app.
pub const SERVER_KEY_LIMIT: u64 = 100;

/// An API key as the client and Admin APIs show it: `{_id, name, disabled}`, plus `key` in the
/// creation response only.
#[derive(Clone, PartialEq)]
pub struct ApiKey {
    /// The key's id (24 hex characters; the `api-key` identity's id).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Disabled keys cannot log in.
    pub disabled: bool,
    /// The secret: only in the value [`Auth::create_user_api_key`] /
    /// [`Auth::create_server_api_key`] return; it cannot be read again.
    pub key: Option<String>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// `{_id, name, disabled}` (and `key` when present).
    pub fn to_document(&self) -> Document {
        let mut d =
            doc! {"_id": self.id.clone(), "name": self.name.clone(), "disabled": self.disabled};
        if let Some(key) = &self.key {
            d.insert("key", key.clone());
        }
        d
    }

    fn from_document(d: &Document) -> ApiKey {
        ApiKey {
            id: match d.get("_id") {
                Some(Bson::ObjectId(o)) => o.to_hex(),
                Some(other) => other.to_string(),
                None => String::new(),
            },
            name: d.get_str("name").unwrap_or_default().to_owned(),
            disabled: d.get_bool("disabled").unwrap_or(false),
            key: None,
        }
    }
}

fn key_id(id: &str) -> Result<Bson, AuthError> {
    ObjectId::parse_str(id)
        .map(Bson::ObjectId)
        .map_err(|_| AuthError::ApiKeyNotFound)
}

impl<S: Store + Clone> Auth<S> {
    fn api_keys(&self) -> crate::store::Namespace {
        self.users.config().namespace(collections::API_KEYS)
    }

    async fn insert_key(
        &self,
        owner: &str,
        kind: &str,
        name: &str,
        limit: u64,
        id: ObjectId,
    ) -> Result<ApiKey, AuthError> {
        if name.is_empty() || name.chars().count() > 256 {
            return Err(AuthError::BadRequest("an API key needs a name".into()));
        }
        let ns = self.api_keys();
        let scope = if kind == "server" {
            doc! {"kind": "server"}
        } else {
            doc! {"owner": owner}
        };
        if self.store.count(&ns, &scope).await? >= limit {
            return Err(AuthError::BadRequest(format!(
                "at most {limit} {kind} API keys"
            )));
        }
        let secret = random_alphanumeric(64).map_err(|e| AuthError::Config(e.to_string()))?;
        let document = doc! {
            "_id": id,
            "name": name,
            "owner": owner,
            "kind": kind,
            "disabled": false,
            "key_hash": sha256_hex(&secret),
            "created": DateTime::now(),
        };
        match self
            .store
            .apply(&ns, vec![Write::Insert(document.clone())])
            .await
        {
            Ok(()) => {}
            Err(StoreError::DuplicateKey { .. }) => return Err(AuthError::ApiKeyAlreadyExists),
            Err(e) => return Err(e.into()),
        }
        // Concurrent creations may have passed the count together: the ones past the limit
        // take their key back.
        if self.store.count(&ns, &scope).await? > limit {
            delete_all(&self.store, &ns, doc! {"_id": id}).await?;
            return Err(AuthError::BadRequest(format!(
                "at most {limit} {kind} API keys"
            )));
        }
        Ok(ApiKey {
            id: id.to_hex(),
            name: name.to_owned(),
            disabled: false,
            key: Some(secret),
        })
    }

    /// Creates a user API key for a logged-in, non-anonymous user; the secret is in the
    /// result only.
    pub async fn create_user_api_key(
        &self,
        user_id: &str,
        name: &str,
    ) -> Result<ApiKey, AuthError> {
        self.start().await?;
        self.provider("api-key")?;
        let user = self
            .users
            .get(user_id)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        if user.user_type == UserType::Server
            || user
                .identities
                .iter()
                .all(|i| i.provider_type == "anon-user")
        {
            return Err(AuthError::BadRequest(
                "anonymous and server users cannot create API keys".into(),
            ));
        }
        self.insert_key(user_id, "user", name, USER_KEY_LIMIT, ObjectId::new())
            .await
    }

    /// Creates a server API key and its `server` user (`data: {name}`, identity `api-key` with
    /// the key's id).
    pub async fn create_server_api_key(&self, name: &str) -> Result<ApiKey, AuthError> {
        self.start().await?;
        self.provider("api-key")?;
        let id = ObjectId::new();
        let user = StoredUser::new(
            UserType::Server,
            identity(id.to_hex(), "api-key", Document::new()),
            doc! {"name": name},
            crate::auth::tokens::now_seconds(),
        );
        self.users.insert(&user).await?;
        match self
            .insert_key(&user.id, "server", name, SERVER_KEY_LIMIT, id)
            .await
        {
            Ok(key) => Ok(key),
            Err(e) => {
                self.users.delete(&user.id).await?;
                Err(e)
            }
        }
    }

    async fn keys_where(&self, filter: Document) -> Result<Vec<ApiKey>, AuthError> {
        let options = FindOptions {
            sort: Some(doc! {"_id": 1}),
            ..FindOptions::default()
        };
        Ok(self
            .store
            .find(&self.api_keys(), &filter, &options)
            .await?
            .iter()
            .map(ApiKey::from_document)
            .collect())
    }

    /// A user's API keys (no secrets).
    pub async fn user_api_keys(&self, user_id: &str) -> Result<Vec<ApiKey>, AuthError> {
        self.keys_where(doc! {"owner": user_id, "kind": "user"})
            .await
    }

    /// The app's server API keys (no secrets).
    pub async fn server_api_keys(&self) -> Result<Vec<ApiKey>, AuthError> {
        self.keys_where(doc! {"kind": "server"}).await
    }

    /// One of a user's keys (`owner: Some(user)`), or a server key (`None`).
    pub async fn api_key(&self, owner: Option<&str>, key: &str) -> Result<ApiKey, AuthError> {
        let filter = scope(owner, key_id(key)?);
        find_one(&self.store, &self.api_keys(), filter)
            .await?
            .map(|d| ApiKey::from_document(&d))
            .ok_or(AuthError::ApiKeyNotFound)
    }

    /// Enables or disables one of a user's keys (`owner: Some(user)`) or a server key.
    pub async fn set_api_key_disabled(
        &self,
        owner: Option<&str>,
        key: &str,
        disabled: bool,
    ) -> Result<(), AuthError> {
        self.api_key(owner, key).await?;
        modify(&self.store, &self.api_keys(), key_id(key)?, |d| {
            d.insert("disabled", disabled);
            true
        })
        .await?
        .ok_or(AuthError::ApiKeyNotFound)?;
        Ok(())
    }

    /// Deletes one of a user's keys, or a server key together with its server user (and its
    /// sessions).
    pub async fn delete_api_key(&self, owner: Option<&str>, key: &str) -> Result<(), AuthError> {
        let filter = scope(owner, key_id(key)?);
        let found = find_one(&self.store, &self.api_keys(), filter.clone())
            .await?
            .ok_or(AuthError::ApiKeyNotFound)?;
        delete_all(&self.store, &self.api_keys(), filter).await?;
        if found.get_str("kind").ok() == Some("server") {
            let user = found.get_str("owner").unwrap_or_default().to_owned();
            match self.delete_stored_user(&user).await {
                Ok(()) | Err(AuthError::UserNotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Checks an API key: its hash finds the key (compared again in constant time); unknown
    /// and disabled keys get the same answer.
    pub(crate) async fn api_key_login(&self, key: &str) -> Result<Authenticated, AuthError> {
        let computed = sha256_hex(key);
        let found = find_one(&self.store, &self.api_keys(), doc! {"key_hash": &computed})
            .await?
            .ok_or(AuthError::InvalidApiKey)?;
        if !constant_time_eq(found.get_str("key_hash").unwrap_or_default(), &computed)
            || found.get_bool("disabled").unwrap_or(false)
        {
            return Err(AuthError::InvalidApiKey);
        }
        let key = ApiKey::from_document(&found);
        let server = found.get_str("kind").ok() == Some("server");
        Ok(Authenticated {
            identity: identity(key.id, "api-key", Document::new()),
            user_data: Document::new(),
            user_type: if server {
                UserType::Server
            } else {
                UserType::Normal
            },
            owner: Some(found.get_str("owner").unwrap_or_default().to_owned()),
        })
    }

    /// Removes every key a user owns.
    pub(crate) async fn forget_api_keys(&self, user_id: &str) -> Result<(), AuthError> {
        delete_all(&self.store, &self.api_keys(), doc! {"owner": user_id}).await?;
        Ok(())
    }
}

fn scope(owner: Option<&str>, id: Bson) -> Document {
    match owner {
        Some(owner) => doc! {"_id": id, "owner": owner, "kind": "user"},
        None => doc! {"_id": id, "kind": "server"},
    }
}
