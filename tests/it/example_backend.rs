//! The `examples/backend.rs` walk-through does what it says, on both stores.

#[path = "../../examples/backend.rs"]
mod backend;

use crate::common;

use expanse::store::{MemoryStore, MongoStore};

fn check(log: &[String]) {
    let text = log.join("\n");
    assert!(
        text.contains("model 1: alice sets her language: allowed (1 modified)"),
        "{text}"
    );
    assert!(
        text.contains("model 1: alice upgrades her plan: refused: update not permitted"),
        "{text}"
    );
    assert!(
        text.contains("model 2: alice writes her language directly: refused: update not permitted"),
        "{text}"
    );
    assert!(
        text.contains("model 2: setLanguage(\"fr\") as the system: true"),
        "{text}"
    );
    assert!(
        text.contains("model 2: after a refresh, language fr"),
        "{text}"
    );
}

#[tokio::test]
async fn the_example_backend_on_the_embedded_store() {
    check(&backend::run(MemoryStore::new()).await.unwrap());
}

#[tokio::test]
async fn the_example_backend_on_the_server() {
    let Some(uri) = common::mongodb_uri("the_example_backend_on_the_server") else {
        return;
    };
    let store = MongoStore::connect(&uri)
        .await
        .unwrap()
        .with_database_prefix(format!("example_{}_", bson::oid::ObjectId::new().to_hex()));
    check(&backend::run(store.clone()).await.unwrap());
    store.drop_prefixed_databases().await.unwrap();
}
