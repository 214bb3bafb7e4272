//! Users and identities, stored in MongoDB (or the embedded store): the users collection the
//! `%%user` of rules comes out of, and the identities collection that keeps each provider
//! account unique (https://www.mongodb.com/docs/atlas/app-services/users/).

mod error;
mod model;
mod store;

pub use error::UsersError;
pub use model::{Identity, StoredUser};
pub use store::{collections, Users, UsersConfig, DEFAULT_DATABASE};
pub(crate) use store::{delete_all, find_one, modify};
