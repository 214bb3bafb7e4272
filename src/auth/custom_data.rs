//! Finding a user's custom data document.

use bson::{doc, oid::ObjectId, Bson, Document};

use crate::app::CustomUserDataConfig;
use crate::store::{FindOptions, Namespace, Store, StoreError};

/// The custom user data document of `user_id` (App Services: https://www.mongodb.com/docs/atlas/app-services/users/custom-metadata/): the document whose
/// `user_id_field` equals the id as a string, else as an ObjectId (a string match wins); among
/// several, the first inserted, taken as the smallest `_id`. `{}` when there is none or custom
/// user data is disabled.
pub async fn find_custom_data<S: Store>(
    store: &S,
    config: &CustomUserDataConfig,
    user_id: &str,
) -> Result<Document, StoreError> {
    if !config.enabled {
        return Ok(Document::new());
    }
    let ns = Namespace::new(&config.database_name, &config.collection_name);
    let options = FindOptions {
        sort: Some(doc! {"_id": 1}),
        limit: Some(1),
        ..FindOptions::default()
    };
    let by_string = doc! {config.user_id_field.clone(): {"$eq": user_id}};
    if let Some(found) = store
        .find(&ns, &by_string, &options)
        .await?
        .into_iter()
        .next()
    {
        return Ok(found);
    }
    if let Ok(oid) = ObjectId::parse_str(user_id) {
        let by_oid = doc! {config.user_id_field.clone(): {"$eq": Bson::ObjectId(oid)}};
        if let Some(found) = store.find(&ns, &by_oid, &options).await?.into_iter().next() {
            return Ok(found);
        }
    }
    Ok(Document::new())
}
