//! A stored user and its identities (the Admin API's `User` shape:
//! https://www.mongodb.com/docs/atlas/app-services/users/).

use bson::{doc, oid::ObjectId, Bson, Document};

use super::error::UsersError;
use crate::{User, UserType};

/// One identity of a user: a provider's account (`{id, provider_type, provider_id, data}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The provider-specific id (a JWT `sub`, an API key's id, a function's external id, …).
    pub id: String,
    /// `anon-user`, `local-userpass`, `api-key`, `custom-token`, `custom-function`.
    pub provider_type: String,
    /// The provider config's id (Expanse: the provider's name).
    pub provider_id: String,
    /// Provider data (for example a custom JWT's metadata fields).
    pub data: Document,
}

impl Identity {
    /// An identity with no data; `provider_id` is the provider type (providers are named by
    /// their type).
    ///
    /// ```
    /// let i = expanse::users::Identity::new("24601", "custom-token");
    /// assert_eq!(i.key(), "custom-token:24601");
    /// ```
    pub fn new(id: impl Into<String>, provider_type: impl Into<String>) -> Identity {
        let provider_type = provider_type.into();
        Identity {
            id: id.into(),
            provider_id: provider_type.clone(),
            provider_type,
            data: Document::new(),
        }
    }

    /// With provider data.
    pub fn with_data(mut self, data: Document) -> Identity {
        self.data = data;
        self
    }

    /// The identity's unique key in the identities collection: `<provider_type>:<id>`
    /// (provider types contain no `:`, so the key is unambiguous).
    pub fn key(&self) -> String {
        identity_key(&self.provider_type, &self.id)
    }

    /// As stored: `{id, provider_type, provider_id, data}`.
    pub fn to_document(&self) -> Document {
        doc! {
            "id": self.id.clone(),
            "provider_type": self.provider_type.clone(),
            "provider_id": self.provider_id.clone(),
            "data": self.data.clone(),
        }
    }

    fn from_document(d: &Document) -> Result<Identity, UsersError> {
        Ok(Identity {
            id: d
                .get_str("id")
                .map_err(|_| UsersError::Malformed("identity id"))?
                .to_owned(),
            provider_type: d
                .get_str("provider_type")
                .map_err(|_| UsersError::Malformed("identity provider_type"))?
                .to_owned(),
            provider_id: d.get_str("provider_id").unwrap_or_default().to_owned(),
            data: d.get_document("data").cloned().unwrap_or_default(),
        })
    }
}

/// The key of an identity in the identities collection.
pub(crate) fn identity_key(provider_type: &str, id: &str) -> String {
    format!("{provider_type}:{id}")
}

/// A user as stored in the users collection.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredUser {
    /// The user id: a 24-hex ObjectId string (kept from an import).
    pub id: String,
    /// `normal` or `server`.
    pub user_type: UserType,
    /// Metadata from the providers (`%%user.data`).
    pub data: Document,
    /// Identities, oldest first.
    pub identities: Vec<Identity>,
    /// Creation time, seconds since the epoch (Admin API: `creation_date`).
    pub creation_date: i64,
    /// Last login, seconds since the epoch (Admin API: `last_authentication_date`).
    pub last_authentication_date: i64,
    /// A disabled user cannot log in and has no sessions.
    pub disabled: bool,
}

impl StoredUser {
    /// A new user with a fresh id and one identity.
    pub fn new(user_type: UserType, identity: Identity, data: Document, now: i64) -> StoredUser {
        StoredUser {
            id: ObjectId::new().to_hex(),
            user_type,
            data,
            identities: vec![identity],
            creation_date: now,
            last_authentication_date: now,
            disabled: false,
        }
    }

    /// The user rules and functions see (`%%user`), custom data empty.
    pub fn to_user(&self) -> User {
        User::new(self.id.clone())
            .with_type(self.user_type)
            .with_data(self.data.clone())
            .with_identities(
                self.identities
                    .iter()
                    .map(|i| doc! {"id": i.id.clone(), "provider_type": i.provider_type.clone()})
                    .collect(),
            )
    }

    /// The stored document. The `_id` is an ObjectId when the id is one (always, except for
    /// imported ids that are not).
    pub fn to_document(&self) -> Document {
        doc! {
            "_id": id_value(&self.id),
            "type": self.user_type.as_str(),
            "data": self.data.clone(),
            "identities": self.identities.iter().map(|i| Bson::Document(i.to_document())).collect::<Vec<_>>(),
            "creation_date": self.creation_date,
            "last_authentication_date": self.last_authentication_date,
            "disabled": self.disabled,
        }
    }

    /// Reads a stored document.
    pub fn from_document(d: &Document) -> Result<StoredUser, UsersError> {
        let id = match d.get("_id") {
            Some(Bson::ObjectId(oid)) => oid.to_hex(),
            Some(Bson::String(s)) => s.clone(),
            _ => return Err(UsersError::Malformed("user _id")),
        };
        let user_type = match d.get_str("type") {
            Ok("server") => UserType::Server,
            Ok("normal") | Err(_) => UserType::Normal,
            Ok(_) => return Err(UsersError::Malformed("user type")),
        };
        let identities = match d.get_array("identities") {
            Ok(items) => items
                .iter()
                .map(|i| {
                    i.as_document()
                        .ok_or(UsersError::Malformed("identity"))
                        .and_then(Identity::from_document)
                })
                .collect::<Result<Vec<_>, _>>()?,
            Err(_) => Vec::new(),
        };
        Ok(StoredUser {
            id,
            user_type,
            data: d.get_document("data").cloned().unwrap_or_default(),
            identities,
            creation_date: seconds(d.get("creation_date")),
            last_authentication_date: seconds(d.get("last_authentication_date")),
            disabled: d.get_bool("disabled").unwrap_or(false),
        })
    }

    /// The Admin API / export shape: `{_id, identities, data, type, creation_date,
    /// last_authentication_date, disabled}` (dates in seconds).
    pub fn admin_document(&self) -> Document {
        let mut d = self.to_document();
        d.insert("_id", self.id.clone());
        d
    }

    /// The client API's profile (`GET /auth/profile`): `{user_id, domain_id, identities,
    /// data, type, creation_date, last_authentication_date}`.
    pub fn profile(&self, domain_id: &str) -> Document {
        doc! {
            "user_id": self.id.clone(),
            "domain_id": domain_id,
            "identities": self.identities.iter().map(|i| Bson::Document(doc! {
                "id": i.id.clone(), "provider_type": i.provider_type.clone(), "provider_id": i.provider_id.clone(),
            })).collect::<Vec<_>>(),
            "data": self.data.clone(),
            "type": self.user_type.as_str(),
            "creation_date": self.creation_date,
            "last_authentication_date": self.last_authentication_date,
        }
    }

    /// The provider types of its identities.
    pub fn provider_types(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for i in &self.identities {
            if !out.contains(&i.provider_type) {
                out.push(i.provider_type.clone());
            }
        }
        out
    }
}

/// A user id as stored: an ObjectId when it parses as one.
pub(crate) fn id_value(id: &str) -> Bson {
    match ObjectId::parse_str(id) {
        Ok(oid) if oid.to_hex() == id => Bson::ObjectId(oid),
        _ => Bson::String(id.to_owned()),
    }
}

fn seconds(value: Option<&Bson>) -> i64 {
    match value {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Double(n)) if n.is_finite() => *n as i64,
        Some(Bson::DateTime(d)) => d.timestamp_millis() / 1000,
        _ => 0,
    }
}
