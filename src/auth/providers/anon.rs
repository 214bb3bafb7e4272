//! `anon-user` (https://www.mongodb.com/docs/atlas/app-services/authentication/anonymous/): every login creates a new user with a new identity.

use bson::{oid::ObjectId, Document};

use super::Authenticated;
use crate::auth::crypto::random_bytes;
use crate::auth::error::AuthError;
use crate::auth::service::{identity, Auth, NORMAL};
use crate::store::Store;

impl<S: Store + Clone> Auth<S> {
    /// A new anonymous identity: `<24-hex ObjectId>-<24 lowercase letters>`, as App Services
    /// wrote them. (A server cannot tell a returning anonymous client: the SDK reuses its
    /// session; a new login is a new user.)
    pub(crate) fn anonymous(&self) -> Result<Authenticated, AuthError> {
        let letters: String = random_bytes(24)
            .map_err(|e| AuthError::Config(e.to_string()))?
            .iter()
            .map(|b| char::from(b'a' + b % 26))
            .collect();
        let id = format!("{}-{letters}", ObjectId::new().to_hex());
        Ok(Authenticated {
            identity: identity(id, "anon-user", Document::new()),
            user_data: Document::new(),
            user_type: NORMAL,
            owner: None,
        })
    }
}
