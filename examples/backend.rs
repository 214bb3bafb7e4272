//! A small backend embedding Expanse: it logs a user in and shows the two permission models of
//! custom user data (App Services: https://www.mongodb.com/docs/atlas/app-services/users/custom-metadata/).
//!
//! 1. User-owned (`fixtures/user-owned-app`): the user edits chosen fields of their own document
//!    directly; everything else is refused.
//! 2. System-written (`fixtures/app`): the user cannot write their document at all; the system
//!    function `setLanguage` writes it for them, using `context.user.id`.
//!
//! Run: `cargo run --example backend` (embedded store), or with `MONGODB_URI=…` for a real MongoDB.

use std::sync::Arc;

use bson::{bson, doc, Bson};
use expanse::auth::{Auth, TokenConfig, TokenIssuer};
use expanse::functions::{Context, Functions};
use expanse::store::{MemoryStore, Store};
use expanse::{App, User};

fn tokens() -> Result<TokenIssuer, String> {
    let secret = std::env::var("EXPANSE_JWT_SECRET")
        .unwrap_or_else(|_| "example-only-secret-example-only-secret".into());
    TokenIssuer::new(TokenConfig::hs256(secret.into_bytes()).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())
}

/// Runs the walk-through, returning what happened step by step.
pub async fn run<S: Store + Clone + 'static>(store: S) -> Result<Vec<String>, String> {
    let mut log = Vec::new();

    // Model 1: users edit their own custom data directly.
    let app = Arc::new(
        App::load("fixtures/user-owned-app")
            .map_err(|e| e.to_string())?
            .app,
    );
    let profiles = expanse::store::Namespace::new("selfserve", "profiles");
    store
        .apply(
            &profiles,
            vec![expanse::store::Write::Insert(
                doc! {"_id": 1, "user_id": "u1", "language": "en", "plan": "free"},
            )],
        )
        .await
        .map_err(|e| e.to_string())?;
    let auth = Auth::new(app.clone(), store.clone(), tokens()?);
    let session = auth
        .login(User::new("u1"))
        .await
        .map_err(|e| e.to_string())?;
    log.push(format!(
        "model 1: alice logged in, custom data {}",
        session.user.custom_data
    ));
    let user = auth
        .verify(&session.tokens.access_token)
        .await
        .map_err(|e| e.to_string())?;
    let own = app
        .collection(&store, &user, "selfserve", "profiles")
        .map_err(|e| e.to_string())?;
    match own
        .update_one(
            &doc! {"user_id": "u1"},
            &doc! {"$set": {"language": "es"}},
            false,
        )
        .await
    {
        Ok(r) => log.push(format!(
            "model 1: alice sets her language: allowed ({} modified)",
            r.modified_count
        )),
        Err(e) => log.push(format!("model 1: alice sets her language: refused: {e}")),
    }
    match own
        .update_one(
            &doc! {"user_id": "u1"},
            &doc! {"$set": {"plan": "pro"}},
            false,
        )
        .await
    {
        Ok(_) => log.push("model 1: alice upgrades her plan: allowed".into()),
        Err(e) => log.push(format!("model 1: alice upgrades her plan: refused: {e}")),
    }

    // Model 2: only a system function writes custom data.
    let app = Arc::new(App::load("fixtures/app").map_err(|e| e.to_string())?.app);
    let users = expanse::store::Namespace::new("notes_app", "users");
    store
        .apply(
            &users,
            vec![expanse::store::Write::Insert(
                doc! {"user_id": "u1", "role": "member", "language": "en"},
            )],
        )
        .await
        .map_err(|e| e.to_string())?;
    let (functions, _) = Functions::builder(app.clone(), store.clone())
        .register(
            "setLanguage",
            |ctx: Context<S>, args: Vec<Bson>| async move {
                let language = args.first().cloned().ok_or("setLanguage(language)")?;
                let users = ctx
                    .services()
                    .get("mongodb-atlas")
                    .ok_or("no data source")?
                    .db("notes_app")
                    .collection("users");
                let id = ctx.user().id.clone();
                let result = users
                    .update_one(
                        &doc! {"user_id": id},
                        &doc! {"$set": {"language": language}},
                        false,
                    )
                    .await?;
                Ok(bson!(result.matched_count == 1))
            },
        )
        .build()
        .map_err(|e| e.to_string())?;
    let auth = Auth::new(app.clone(), store.clone(), tokens()?)
        .with_functions(Arc::new(functions.clone()));
    let session = auth
        .login(User::new("u1"))
        .await
        .map_err(|e| e.to_string())?;
    log.push(format!(
        "model 2: alice logged in, language {}",
        session.user.custom_data.get_str("language").unwrap_or("?")
    ));
    let user = auth
        .verify(&session.tokens.access_token)
        .await
        .map_err(|e| e.to_string())?;
    let direct = app
        .collection(&store, &user, "notes_app", "users")
        .map_err(|e| e.to_string())?;
    match direct
        .update_one(
            &doc! {"user_id": "u1"},
            &doc! {"$set": {"language": "fr"}},
            false,
        )
        .await
    {
        Ok(_) => log.push("model 2: alice writes her language directly: allowed".into()),
        Err(e) => log.push(format!(
            "model 2: alice writes her language directly: refused: {e}"
        )),
    }
    let result = functions
        .call(&user, "setLanguage", vec![bson!("fr")], None)
        .await
        .map_err(|e| e.to_string())?;
    log.push(format!(
        "model 2: setLanguage(\"fr\") as the system: {result}"
    ));
    let access = auth
        .refresh(&session.tokens.refresh_token)
        .await
        .map_err(|e| e.to_string())?;
    let refreshed = auth.verify(&access).await.map_err(|e| e.to_string())?;
    log.push(format!(
        "model 2: after a refresh, language {}",
        refreshed.custom_data.get_str("language").unwrap_or("?")
    ));
    Ok(log)
}

#[allow(dead_code)]
#[tokio::main]
async fn main() {
    let result = match std::env::var("MONGODB_URI") {
        Ok(uri) => match expanse::store::MongoStore::connect(&uri).await {
            Ok(store) => run(store.with_database_prefix("expanse_example_")).await,
            Err(e) => Err(e.to_string()),
        },
        Err(_) => run(MemoryStore::new()).await,
    };
    match result {
        Ok(log) => log.iter().for_each(|line| println!("{line}")),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
