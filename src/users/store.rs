//! The users and identities collections: reading, creating (race-safe on identities), linking,
//! disabling and deleting users.

use bson::{doc, Bson, Document};

use super::error::UsersError;
use super::model::{id_value, identity_key, Identity, StoredUser};
use crate::store::{FindOptions, Namespace, Store, StoreError, Write};

/// The database Expanse keeps users, identities, sessions and API keys in by default.
pub const DEFAULT_DATABASE: &str = "__expanse";

/// Collection names, in [`UsersConfig::database`].
pub mod collections {
    /// One document per user (Admin API shape).
    pub const USERS: &str = "users";
    /// One document per identity, `_id` = `<provider_type>:<id>`: the uniqueness of identities.
    pub const IDENTITIES: &str = "identities";
    /// One document per refresh-token session.
    pub const SESSIONS: &str = "sessions";
    /// Email/password accounts, `_id` = the email.
    pub const USERPASS: &str = "userpass_accounts";
    /// Confirmation and reset tokens (hashed), `_id` = the token id.
    pub const USERPASS_TOKENS: &str = "userpass_tokens";
    /// User and server API keys (hashed).
    pub const API_KEYS: &str = "api_keys";
}

/// Where the users store lives.
///
/// ```
/// let config = expanse::users::UsersConfig::default();
/// assert_eq!(config.database, "__expanse");
/// assert_eq!(config.namespace("users").to_string(), "__expanse.users");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersConfig {
    /// The database (default `__expanse`).
    pub database: String,
}

impl Default for UsersConfig {
    fn default() -> UsersConfig {
        UsersConfig {
            database: DEFAULT_DATABASE.into(),
        }
    }
}

impl UsersConfig {
    /// The namespace of one of the [`collections`].
    pub fn namespace(&self, collection: &str) -> Namespace {
        Namespace::new(&self.database, collection)
    }
}

/// How many times a read-modify-write of one document is retried when a concurrent write wins.
const RETRIES: usize = 32;

/// The first document matching `filter`.
pub(crate) async fn find_one<S: Store>(
    store: &S,
    ns: &Namespace,
    filter: Document,
) -> Result<Option<Document>, StoreError> {
    let options = FindOptions {
        limit: Some(1),
        ..FindOptions::default()
    };
    Ok(store.find(ns, &filter, &options).await?.into_iter().next())
}

/// Reads the document `_id: id`, lets `edit` change it (returning `false` to leave it), and
/// writes it back only if it is unchanged since it was read; retried when a concurrent write
/// wins. `Ok(None)` when there is no such document.
pub(crate) async fn modify<S: Store>(
    store: &S,
    ns: &Namespace,
    id: Bson,
    mut edit: impl FnMut(&mut Document) -> bool,
) -> Result<Option<Document>, UsersError> {
    for _ in 0..RETRIES {
        let Some(pre) = find_one(store, ns, doc! {"_id": id.clone()}).await? else {
            return Ok(None);
        };
        let mut post = pre.clone();
        if !edit(&mut post) {
            return Ok(Some(pre));
        }
        match store
            .apply(
                ns,
                vec![Write::Replace {
                    pre,
                    post: post.clone(),
                }],
            )
            .await
        {
            Ok(()) => return Ok(Some(post)),
            Err(StoreError::Conflict) => tokio::task::yield_now().await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(UsersError::Contended)
}

/// Deletes every document matching `filter` (each only if unchanged since read; a document a
/// concurrent writer changed is read again).
pub(crate) async fn delete_all<S: Store>(
    store: &S,
    ns: &Namespace,
    filter: Document,
) -> Result<usize, UsersError> {
    let mut deleted = 0;
    for _ in 0..RETRIES {
        let found = store.find(ns, &filter, &FindOptions::default()).await?;
        if found.is_empty() {
            return Ok(deleted);
        }
        let mut conflict = false;
        for pre in found {
            match store.apply(ns, vec![Write::Delete { pre }]).await {
                Ok(()) => deleted += 1,
                Err(StoreError::Conflict) => conflict = true,
                Err(e) => return Err(e.into()),
            }
        }
        if !conflict {
            return Ok(deleted);
        }
    }
    Err(UsersError::Contended)
}

/// The users and identities of one app.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use expanse::store::MemoryStore;
/// use expanse::users::{Identity, StoredUser, Users, UsersConfig};
/// use expanse::UserType;
/// let users = Users::new(MemoryStore::new(), UsersConfig::default());
/// users.ensure_indexes().await.unwrap();
/// let user = StoredUser::new(UserType::Normal, Identity::new("42", "custom-token"), bson::doc! {}, 0);
/// users.insert(&user).await.unwrap();
/// let found = users.find_by_identity("custom-token", "42").await.unwrap().unwrap();
/// assert_eq!(found.id, user.id);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Users<S: Store> {
    store: S,
    config: UsersConfig,
}

impl<S: Store> Users<S> {
    /// The users store in `config.database` of `store`.
    pub fn new(store: S, config: UsersConfig) -> Users<S> {
        Users { store, config }
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Where the collections are.
    pub fn config(&self) -> &UsersConfig {
        &self.config
    }

    fn ns(&self, collection: &str) -> Namespace {
        self.config.namespace(collection)
    }

    /// Creates the indexes: identities by user; sessions by user and a TTL index on their
    /// expiry; tokens' TTL index; API keys unique by hash and by (owner, name); accounts
    /// unique by identity id. Idempotent; run at start.
    pub async fn ensure_indexes(&self) -> Result<(), UsersError> {
        use collections::*;
        let s = &self.store;
        let f = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        s.create_index(&self.ns(IDENTITIES), &f(&["user_id"]))
            .await?;
        s.create_index(&self.ns(SESSIONS), &f(&["user_id"])).await?;
        s.create_ttl_index(&self.ns(SESSIONS), "expires_at").await?;
        s.create_ttl_index(&self.ns(USERPASS_TOKENS), "expires_at")
            .await?;
        s.create_unique_index(&self.ns(API_KEYS), &f(&["key_hash"]))
            .await?;
        s.create_unique_index(&self.ns(API_KEYS), &f(&["owner", "name"]))
            .await?;
        s.create_unique_index(&self.ns(USERPASS), &f(&["identity_id"]))
            .await?;
        Ok(())
    }

    /// The user with this id.
    pub async fn get(&self, id: &str) -> Result<Option<StoredUser>, UsersError> {
        find_one(
            &self.store,
            &self.ns(collections::USERS),
            doc! {"_id": id_value(id)},
        )
        .await?
        .map(|d| StoredUser::from_document(&d))
        .transpose()
    }

    /// Every user, in id order.
    pub async fn list(&self) -> Result<Vec<StoredUser>, UsersError> {
        let options = FindOptions {
            sort: Some(doc! {"_id": 1}),
            ..FindOptions::default()
        };
        self.store
            .find(&self.ns(collections::USERS), &doc! {}, &options)
            .await?
            .iter()
            .map(StoredUser::from_document)
            .collect()
    }

    /// The id of the user owning an identity, if any.
    pub async fn owner_of(
        &self,
        provider_type: &str,
        id: &str,
    ) -> Result<Option<String>, UsersError> {
        let claim = find_one(
            &self.store,
            &self.ns(collections::IDENTITIES),
            doc! {"_id": identity_key(provider_type, id)},
        )
        .await?;
        Ok(claim.and_then(|c| c.get_str("user_id").ok().map(str::to_owned)))
    }

    /// The user owning an identity, if any.
    pub async fn find_by_identity(
        &self,
        provider_type: &str,
        id: &str,
    ) -> Result<Option<StoredUser>, UsersError> {
        match self.owner_of(provider_type, id).await? {
            Some(user_id) => self.get(&user_id).await,
            None => Ok(None),
        }
    }

    /// Inserts a new user and claims its identities. The user document is written first, so a
    /// claimed identity always leads to a user; if an identity is already claimed by an
    /// existing user, the new document is removed again and [`UsersError::IdentityTaken`]
    /// returned (the caller logs the existing user in instead).
    pub async fn insert(&self, user: &StoredUser) -> Result<(), UsersError> {
        let users = self.ns(collections::USERS);
        let document = user.to_document();
        self.store
            .apply(&users, vec![Write::Insert(document.clone())])
            .await?;
        let mut claimed: Vec<String> = Vec::new();
        for identity in &user.identities {
            match self.claim(identity, &user.id).await {
                Ok(()) => claimed.push(identity.key()),
                Err(e) => {
                    for key in claimed {
                        self.release(&key, &user.id).await?;
                    }
                    self.store
                        .apply(&users, vec![Write::Delete { pre: document }])
                        .await?;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Claims an identity for `user_id`: a claim left by a user that no longer exists is
    /// replaced; one held by this user is kept.
    async fn claim(&self, identity: &Identity, user_id: &str) -> Result<(), UsersError> {
        let ns = self.ns(collections::IDENTITIES);
        let claim = doc! {
            "_id": identity.key(),
            "user_id": user_id,
            "provider_type": identity.provider_type.clone(),
            "id": identity.id.clone(),
        };
        for _ in 0..RETRIES {
            match self
                .store
                .apply(&ns, vec![Write::Insert(claim.clone())])
                .await
            {
                Ok(()) => return Ok(()),
                Err(StoreError::DuplicateKey { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let Some(existing) = find_one(&self.store, &ns, doc! {"_id": identity.key()}).await?
            else {
                continue;
            };
            let owner = existing.get_str("user_id").unwrap_or_default().to_owned();
            if owner == user_id {
                return Ok(());
            }
            if self.get(&owner).await?.is_some() {
                return Err(UsersError::IdentityTaken);
            }
            // A claim whose user is gone (a deletion that stopped half-way): take it over.
            match self
                .store
                .apply(&ns, vec![Write::Delete { pre: existing }])
                .await
            {
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(UsersError::Contended)
    }

    async fn release(&self, key: &str, user_id: &str) -> Result<(), UsersError> {
        delete_all(
            &self.store,
            &self.ns(collections::IDENTITIES),
            doc! {"_id": key, "user_id": user_id},
        )
        .await
        .map(|_| ())
    }

    /// Changes a stored user with `edit` (read, edit, conditional write, retried on conflict).
    pub async fn update(
        &self,
        id: &str,
        mut edit: impl FnMut(&mut StoredUser),
    ) -> Result<StoredUser, UsersError> {
        let mut malformed = None;
        let updated = modify(
            &self.store,
            &self.ns(collections::USERS),
            id_value(id),
            |doc| match StoredUser::from_document(doc) {
                Ok(mut user) => {
                    edit(&mut user);
                    *doc = user.to_document();
                    true
                }
                Err(e) => {
                    malformed = Some(e);
                    false
                }
            },
        )
        .await?;
        if let Some(e) = malformed {
            return Err(e);
        }
        let updated = updated.ok_or(UsersError::NotFound)?;
        StoredUser::from_document(&updated)
    }

    /// Links `identity` to the user `user_id` (claimed first, so an identity never belongs to
    /// two users).
    pub async fn add_identity(
        &self,
        user_id: &str,
        identity: Identity,
    ) -> Result<StoredUser, UsersError> {
        if self.get(user_id).await?.is_none() {
            return Err(UsersError::NotFound);
        }
        self.claim(&identity, user_id).await?;
        self.update(user_id, |user| {
            if !user
                .identities
                .iter()
                .any(|i| i.provider_type == identity.provider_type && i.id == identity.id)
            {
                user.identities.push(identity.clone());
            }
        })
        .await
    }

    /// Deletes a user and its identities; returns what was deleted.
    pub async fn delete(&self, id: &str) -> Result<Option<StoredUser>, UsersError> {
        let users = self.ns(collections::USERS);
        for _ in 0..RETRIES {
            let Some(pre) = find_one(&self.store, &users, doc! {"_id": id_value(id)}).await? else {
                return Ok(None);
            };
            let user = StoredUser::from_document(&pre)?;
            match self.store.apply(&users, vec![Write::Delete { pre }]).await {
                Ok(()) => {
                    delete_all(
                        &self.store,
                        &self.ns(collections::IDENTITIES),
                        doc! {"user_id": id},
                    )
                    .await?;
                    return Ok(Some(user));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(UsersError::Contended)
    }
}
