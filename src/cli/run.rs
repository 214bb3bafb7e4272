//! `expanse run APP_DIR FUNCTION [--as USER_ID [--client] | --system] [--args JSON_ARRAY] [--mongodb URI | --data SEED.json]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use bson::Bson;
use clap::Args;

use super::{read_file, EXIT_INVALID};
use crate::app::App;
use crate::auth::find_custom_data;
use crate::functions::{FunctionError, Functions};
use crate::store::{MemoryStore, MongoStore, Store};
use crate::User;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The exported app directory.
    app: PathBuf,
    /// The function to run.
    function: String,
    /// Run on behalf of this user id, as an operator would with the App Services CLI: their
    /// custom data is read and rules apply unless the function runs as system, but `private`
    /// and `can_evaluate` do not stop the call (add --client for that).
    #[arg(long = "as", value_name = "USER_ID", conflicts_with = "system")]
    as_user: Option<String>,
    /// With --as: make the call exactly as that user's client would, refused where a client
    /// call is refused (a private function: NotCallable; `can_evaluate` false).
    #[arg(long, requires = "as_user")]
    client: bool,
    /// Run as the system user (the default).
    #[arg(long)]
    system: bool,
    /// The arguments, as a JSON array (Extended JSON values allowed).
    #[arg(long, default_value = "[]")]
    args: String,
    /// Run against this MongoDB.
    #[arg(long, conflicts_with = "data")]
    mongodb: Option<String>,
    /// Seed the embedded store from this file (`{"db.coll": [documents]}`).
    #[arg(long)]
    data: Option<PathBuf>,
}

pub fn run(args: RunArgs) -> ExitCode {
    let runtime = match super::runtime(super::Threads::Two) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    runtime.block_on(execute(&args))
}

fn invalid(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(EXIT_INVALID)
}

async fn execute(args: &RunArgs) -> ExitCode {
    let json = match crate::json::parse(&args.args, "--args") {
        Ok(j) => j,
        Err(e) => return invalid(e),
    };
    let arguments = match crate::json::to_bson(&json) {
        Ok(Bson::Array(items)) => items,
        Ok(_) => return invalid("--args:1:1: the arguments must be a JSON array"),
        Err(e) => return invalid(e),
    };
    let app = match App::load(&args.app) {
        Ok(loaded) => Arc::new(loaded.app),
        Err(e) => return invalid(e),
    };
    match &args.mongodb {
        Some(uri) => match MongoStore::connect(uri).await {
            Ok(store) => call(args, app, store, arguments).await,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        None => {
            let store = MemoryStore::new().with_null_semantics(app.query.null_semantics);
            if let Some(seed) = &args.data {
                let name = seed.display().to_string();
                let text = match read_file(seed) {
                    Ok(t) => t,
                    Err(e) => return invalid(e),
                };
                let seeded = crate::json::parse(&text, &name)
                    .map_err(|e| e.to_string())
                    .and_then(|j| crate::json::to_document(&j).map_err(|e| e.to_string()))
                    .and_then(|d| store.seed(&d).map_err(|e| format!("{name}: {e}")));
                if let Err(e) = seeded {
                    return invalid(e);
                }
            }
            call(args, app, store, arguments).await
        }
    }
}

async fn call<S: Store + Clone + 'static>(
    args: &RunArgs,
    app: Arc<App>,
    store: S,
    arguments: Vec<Bson>,
) -> ExitCode {
    let functions = match Functions::builder(app.clone(), store.clone()).build() {
        Ok((functions, warnings)) => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
            functions
        }
        Err(e) => return invalid(e),
    };
    let result = match &args.as_user {
        Some(id) => {
            let custom = match &app.custom_user_data {
                Some(config) => match find_custom_data(&store, config, id).await {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("reading custom user data: {e}");
                        return ExitCode::from(1);
                    }
                },
                None => bson::Document::new(),
            };
            let user = User::new(id.clone()).with_custom_data(custom);
            if args.client {
                functions.call(&user, &args.function, arguments, None).await
            } else {
                functions
                    .call_as_user(&user, &args.function, arguments)
                    .await
            }
        }
        None => functions.call_as_system(&args.function, arguments).await,
    };
    for line in functions.take_log() {
        eprintln!("{line}");
    }
    match result {
        Ok(value) => {
            println!("{}", value.into_relaxed_extjson());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let hint = match &e {
                FunctionError::NotFound(name) => {
                    crate::suggest::closest(name, app.functions.keys().map(String::as_str))
                        .map(|c| format!(" (did you mean {c}?)"))
                }
                _ => None,
            };
            eprintln!("{} ({}){}", e, e.code(), hint.unwrap_or_default());
            ExitCode::from(1)
        }
    }
}
