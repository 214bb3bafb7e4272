//! `expanse users import FILE APP_DIR [--mongodb URI] [--database NAME]`: imports an App
//! Services user export into the users store.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::{read_file, EXIT_INVALID};
use crate::app::App;
use crate::auth::{Auth, TokenConfig, TokenIssuer};
use crate::store::MongoStore;
use crate::users::UsersConfig;

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Import an App Services user export (the Admin API's user list, a JSON array): ids are
    /// kept; email/password users must reset their password.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The export (a JSON array of users, or JSON lines).
    file: PathBuf,
    /// The exported app directory.
    app: PathBuf,
    /// The MongoDB to import into (default: the MONGODB_URI environment variable).
    #[arg(long)]
    mongodb: Option<String>,
    /// The database of the users store.
    #[arg(long, default_value = crate::users::DEFAULT_DATABASE)]
    database: String,
}

/// Runs `expanse users …`.
pub fn run(args: UsersArgs) -> ExitCode {
    match args.command {
        UsersCommand::Import(args) => match import(args) {
            Ok(code) => code,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::from(EXIT_INVALID)
            }
        },
    }
}

/// The export's users: a JSON array (or `{"users": [...]}`), or one user per line.
fn read_export(path: &std::path::Path) -> Result<serde_json::Value, String> {
    let text = read_file(path)?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) if v.get("_id").is_some() => Ok(serde_json::Value::Array(vec![v])),
        Ok(v) => Ok(v),
        Err(first) => {
            let mut users = Vec::new();
            for (n, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                users.push(serde_json::from_str(line).map_err(|e| {
                    format!(
                        "{}:{}:{}: {e} (nor one JSON document: {first})",
                        path.display(),
                        n + 1,
                        e.column()
                    )
                })?);
            }
            Ok(serde_json::Value::Array(users))
        }
    }
}

fn import(args: ImportArgs) -> Result<ExitCode, String> {
    let export = read_export(&args.file)?;
    let app = Arc::new(App::load(&args.app).map_err(|e| e.to_string())?.app);
    let uri = match args.mongodb {
        Some(uri) => uri,
        None => std::env::var("MONGODB_URI").map_err(|_| {
            "give --mongodb URI (or set MONGODB_URI): imports go to MongoDB".to_owned()
        })?,
    };
    // Importing signs nothing: a throwaway key.
    let secret = crate::auth::random_secret().map_err(|e| e.to_string())?;
    let issuer = TokenIssuer::new(TokenConfig::hs256(secret).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let report = runtime.block_on(async {
        let store = MongoStore::connect(&uri).await.map_err(|e| e.to_string())?;
        Auth::new(app, store, issuer)
            .with_users_config(UsersConfig {
                database: args.database.clone(),
            })
            .import_users(&export)
            .await
            .map_err(|e| e.to_string())
    })?;
    println!(
        "imported {} users ({} must reset their password); skipped {}",
        report.created,
        report.reset_required,
        report.skipped.len()
    );
    for (id, reason) in &report.skipped {
        println!("skipped {id}: {reason}");
    }
    for (id, warning) in &report.warnings {
        println!("warning {id}: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}
