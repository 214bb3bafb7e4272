//! Denied stays denied under concurrency: 64 users at once reading others' documents, trying to
//! take ownership, racing permitted writes against ownership transfers, and writing their custom
//! data through a system function — on the embedded store and on the real server.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bson::{bson, doc, Bson, Document};
use expanse::functions::{Context, Functions, Thrown};
use expanse::store::{FindOptions, MemoryStore, MongoStore, Namespace, Store, Write};
use expanse::{App, User};

const USERS: usize = 64;

fn note(owner: usize, n: usize) -> Document {
    doc! {"_id": format!("n{owner}_{n}"), "owner_id": format!("u{owner}"), "title": "t", "n": 0}
}

#[derive(Default)]
struct Tally {
    leaks: AtomicUsize,
    denied_writes_applied: AtomicUsize,
    unexpected_errors: AtomicUsize,
    allowed: AtomicUsize,
    denied: AtomicUsize,
}

async fn scenario<S: Store + Clone + 'static>(store: S) {
    let app = Arc::new(App::load("fixtures/app").unwrap().app);
    let notes = Namespace::new("notes_app", "notes");
    let users = Namespace::new("notes_app", "users");
    let mut seed = Vec::new();
    for u in 0..USERS {
        for n in 0..3 {
            seed.push(Write::Insert(note(u, n)));
        }
    }
    store.apply(&notes, seed).await.unwrap();
    let profiles = (0..USERS).map(|u| Write::Insert(doc! {"_id": u as i32, "user_id": format!("u{u}"), "role": "member", "language": "en"})).collect();
    store.apply(&users, profiles).await.unwrap();
    let (functions, _) = Functions::builder(app.clone(), store.clone())
        .register(
            "setLanguage",
            |ctx: Context<S>, args: Vec<Bson>| async move {
                let users = ctx
                    .services()
                    .get("mongodb-atlas")
                    .ok_or("no data source")?
                    .db("notes_app")
                    .collection("users");
                let id = ctx.user().id.clone();
                users
                    .update_one(
                        &doc! {"user_id": id},
                        &doc! {"$set": {"language": args[0].clone()}},
                        false,
                    )
                    .await
                    .map(|r| bson!(r.modified_count as i64))
                    .map_err(Thrown::from)
            },
        )
        .build()
        .unwrap();
    let tally = Arc::new(Tally::default());
    let mut tasks = Vec::new();
    for u in 0..USERS {
        let (app, store, functions, tally) =
            (app.clone(), store.clone(), functions.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let me = User::new(format!("u{u}")).with_custom_data(doc! {"role": "member"});
            let other = (u + 1) % USERS;
            let coll = app.collection(&store, &me, "notes_app", "notes").unwrap();
            for round in 0..3 {
                // reads never show another user's note
                let seen = coll.find(&doc! {}, &FindOptions::default()).await.unwrap();
                let foreign = seen
                    .iter()
                    .filter(|d| d.get_str("owner_id").unwrap_or_default() != me.id)
                    .count();
                tally.leaks.fetch_add(foreign, Ordering::SeqCst);
                // another user's notes are not there to write (matched 0); giving one's own
                // away is refused
                for (query, update) in [
                    (
                        doc! {"_id": format!("n{other}_0")},
                        doc! {"$set": {"title": "hijacked"}},
                    ),
                    (
                        doc! {"_id": format!("n{u}_1")},
                        doc! {"$set": {"owner_id": format!("u{other}")}},
                    ),
                    (
                        doc! {"owner_id": format!("u{other}")},
                        doc! {"$set": {"title": "everyone"}},
                    ),
                ] {
                    match coll.update_many(&query, &update, false).await {
                        Err(expanse::guard::GuardError::Denied(_)) => {
                            tally.denied.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(r) if r.matched_count == 0 => {}
                        Ok(_) => {
                            tally.denied_writes_applied.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => {
                            tally.unexpected_errors.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                // permitted writes to one's own notes succeed
                match coll
                    .update_one(
                        &doc! {"_id": format!("n{u}_2")},
                        &doc! {"$inc": {"n": 1}},
                        false,
                    )
                    .await
                {
                    Ok(_) => {
                        tally.allowed.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => {
                        tally.unexpected_errors.fetch_add(1, Ordering::SeqCst);
                    }
                }
                // custom data: direct writes refused, the system function writes it
                let own = app.collection(&store, &me, "notes_app", "users").unwrap();
                if own
                    .update_one(
                        &doc! {"user_id": &me.id},
                        &doc! {"$set": {"role": "admin"}},
                        false,
                    )
                    .await
                    .is_ok()
                {
                    tally.denied_writes_applied.fetch_add(1, Ordering::SeqCst);
                }
                let language = if round % 2 == 0 { "fr" } else { "de" };
                if functions
                    .call(&me, "setLanguage", vec![bson!(language)], None)
                    .await
                    .is_err()
                {
                    tally.unexpected_errors.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        tally.leaks.load(Ordering::SeqCst),
        0,
        "documents leaked to other users"
    );
    assert_eq!(
        tally.denied_writes_applied.load(Ordering::SeqCst),
        0,
        "denied writes were applied"
    );
    assert_eq!(
        tally.unexpected_errors.load(Ordering::SeqCst),
        0,
        "errors other than denials"
    );
    assert_eq!(tally.allowed.load(Ordering::SeqCst), USERS * 3);
    assert!(tally.denied.load(Ordering::SeqCst) >= USERS * 3);
    // the stored state proves it: every note still belongs to its owner, no title was hijacked,
    // every user's own counter saw all three increments, and nobody became an admin
    let system = User::system();
    let all = app
        .collection(&store, &system, "notes_app", "notes")
        .unwrap()
        .find(&doc! {}, &FindOptions::default())
        .await
        .unwrap();
    for d in &all {
        let id = d.get_str("_id").unwrap();
        let owner = id.trim_start_matches('n').split('_').next().unwrap();
        assert_eq!(d.get_str("owner_id").unwrap(), format!("u{owner}"), "{d}");
        assert_eq!(d.get_str("title").unwrap(), "t", "{d}");
        if id.ends_with("_2") {
            assert_eq!(d.get_i32("n").unwrap(), 3, "{d}");
        }
    }
    let profiles = app
        .collection(&store, &system, "notes_app", "users")
        .unwrap()
        .find(&doc! {}, &FindOptions::default())
        .await
        .unwrap();
    assert!(
        profiles
            .iter()
            .all(|p| p.get_str("role").unwrap() == "member"
                && p.get_str("language").unwrap() == "fr"),
        "the last round set fr"
    );
}

/// A permitted writer races the document's transfer to another owner: once the transfer is done,
/// the old owner's writes match nothing, and no write checked on the old version ever lands on the
/// new one (which would give the document back).
async fn race_write_against_transfer<S: Store + Clone + 'static>(store: S) {
    let app = Arc::new(App::load("fixtures/app").unwrap().app);
    let notes = Namespace::new("notes_app", "notes");
    store
        .apply(
            &notes,
            vec![Write::Insert(
                doc! {"_id": "contested", "owner_id": "a", "n": 0},
            )],
        )
        .await
        .unwrap();
    let alice = Arc::new(User::new("a"));
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (app, store, alice) = (app.clone(), store.clone(), alice.clone());
            tokio::spawn(async move {
                let coll = app
                    .collection(&store, &alice, "notes_app", "notes")
                    .unwrap();
                let mut ok = 0;
                for _ in 0..25 {
                    // After the transfer the document is not alice's to read: matched 0.
                    if coll
                        .update_one(&doc! {"_id": "contested"}, &doc! {"$inc": {"n": 1}}, false)
                        .await
                        .is_ok_and(|r| r.modified_count == 1)
                    {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    tokio::task::yield_now().await;
    let system = User::system();
    let admin = app
        .collection(&store, &system, "notes_app", "notes")
        .unwrap();
    let transfer = admin
        .update_one(
            &doc! {"_id": "contested"},
            &doc! {"$set": {"owner_id": "b"}},
            false,
        )
        .await;
    // Under this much contention the transfer itself may need another try (liveness, not safety).
    let mut transfer = transfer;
    for _ in 0..5 {
        if transfer.is_ok() {
            break;
        }
        transfer = admin
            .update_one(
                &doc! {"_id": "contested"},
                &doc! {"$set": {"owner_id": "b"}},
                false,
            )
            .await;
    }
    transfer.expect("the transfer goes through");
    let after = app
        .collection(&store, &alice, "notes_app", "notes")
        .unwrap();
    for _ in 0..5 {
        let result = after
            .update_one(&doc! {"_id": "contested"}, &doc! {"$inc": {"n": 1}}, false)
            .await;
        assert!(
            result.as_ref().is_ok_and(|r| r.matched_count == 0),
            "a write after the transfer must match nothing: {result:?}"
        );
    }
    let mut succeeded = 0;
    for w in writers {
        succeeded += w.await.unwrap();
    }
    let stored = admin
        .find_one(&doc! {"_id": "contested"}, &FindOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.get_str("owner_id").unwrap(),
        "b",
        "a stale write gave the document back: {stored}"
    );
    assert_eq!(
        stored.get_i32("n").unwrap(),
        succeeded,
        "every acknowledged write is counted once, none lost: {stored}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_users_on_the_embedded_store() {
    scenario(MemoryStore::new()).await;
    race_write_against_transfer(MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_users_on_the_server() {
    let Some(uri) = common::mongodb_uri("sixty_four_users_on_the_server") else {
        return;
    };
    let base = MongoStore::connect(&uri).await.unwrap();
    let store = base.with_database_prefix(format!("conc_{}_", bson::oid::ObjectId::new().to_hex()));
    scenario(store.clone()).await;
    store.drop_prefixed_databases().await.unwrap();
    let store = base.with_database_prefix(format!("race_{}_", bson::oid::ObjectId::new().to_hex()));
    race_write_against_transfer(store.clone()).await;
    store.drop_prefixed_databases().await.unwrap();
}

/// A permitted writer races the revocation of its sessions: once the revocation is done, every
/// write made with the old token is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_race_a_revocation() {
    use expanse::auth::{Auth, TokenConfig, TokenIssuer};
    let app = Arc::new(App::load("fixtures/app").unwrap().app);
    let store = MemoryStore::new();
    store
        .seed(&doc! {"notes_app.notes": [{"_id": "n", "owner_id": "a", "n": 0}]})
        .unwrap();
    let tokens = TokenIssuer::new(
        TokenConfig::hs256(b"concurrency-secret-concurrency-secret".to_vec()).unwrap(),
    )
    .unwrap();
    let auth = Arc::new(Auth::new(app.clone(), store.clone(), tokens));
    let session = auth.login(User::new("a")).await.unwrap();
    let revoked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let after_revocation = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..16)
        .map(|_| {
            let (app, store, auth, token, revoked, after) = (
                app.clone(),
                store.clone(),
                auth.clone(),
                session.tokens.access_token.clone(),
                revoked.clone(),
                after_revocation.clone(),
            );
            tokio::spawn(async move {
                for _ in 0..50 {
                    let was_revoked = revoked.load(Ordering::SeqCst);
                    let Ok(user) = auth.verify(&token).await else {
                        continue;
                    };
                    if was_revoked {
                        after.fetch_add(1, Ordering::SeqCst);
                    }
                    let coll = app.collection(&store, &user, "notes_app", "notes").unwrap();
                    let _ = coll
                        .update_one(&doc! {"_id": "n"}, &doc! {"$inc": {"n": 1}}, false)
                        .await;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    tokio::task::yield_now().await;
    auth.revoke("a").await.unwrap();
    revoked.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(
        after_revocation.load(Ordering::SeqCst),
        0,
        "a token verified after its revocation"
    );
    assert!(auth.verify(&session.tokens.access_token).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_users_on_the_server_with_the_transaction_guard() {
    let Some(uri) =
        common::mongodb_uri("sixty_four_users_on_the_server_with_the_transaction_guard")
    else {
        return;
    };
    let base = MongoStore::connect(&uri)
        .await
        .unwrap()
        .with_write_guard(expanse::store::WriteGuard::Transaction);
    let store =
        base.with_database_prefix(format!("conct_{}_", bson::oid::ObjectId::new().to_hex()));
    scenario(store.clone()).await;
    store.drop_prefixed_databases().await.unwrap();
    let store =
        base.with_database_prefix(format!("racet_{}_", bson::oid::ObjectId::new().to_hex()));
    race_write_against_transfer(store.clone()).await;
    store.drop_prefixed_databases().await.unwrap();
}
