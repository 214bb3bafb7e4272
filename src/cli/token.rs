//! `expanse token APP_DIR --user ID [--data JSON] [--mongodb URI | --seed SEED.json]`
//! `expanse token APP_DIR --verify TOKEN`

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};

use super::{read_file, EXIT_INVALID};
use crate::app::App;
use crate::auth::{
    Auth, SigningKey, TokenConfig, TokenIssuer, ACCESS_TOKEN_LIFETIME, REFRESH_TOKEN_LIFETIME,
};
use crate::store::{MemoryStore, MongoStore};
use crate::User;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Alg {
    Hs256,
    Rs256,
    Es256,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The exported app directory (for its custom user data settings).
    app: PathBuf,
    /// Log this user id in and print an access/refresh token pair.
    #[arg(long, conflicts_with = "verify")]
    user: Option<String>,
    /// Provider metadata for the user (`%%user.data`), as JSON.
    #[arg(long, requires = "user")]
    data: Option<String>,
    /// Read custom user data from this MongoDB.
    #[arg(long, conflicts_with = "seed")]
    mongodb: Option<String>,
    /// Read custom user data from this seed file (`{"db.coll": [documents]}`) instead.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Print the claims of this token, or why it is refused.
    #[arg(long)]
    verify: Option<String>,
    /// Signing algorithm. HS256 reads its secret from EXPANSE_JWT_SECRET.
    #[arg(long, value_enum, default_value = "hs256")]
    algorithm: Alg,
    /// PEM private key (RS256/ES256).
    #[arg(long)]
    private_key: Option<PathBuf>,
    /// PEM public key (RS256/ES256).
    #[arg(long)]
    public_key: Option<PathBuf>,
}

fn issuer(args: &TokenArgs) -> Result<TokenIssuer, String> {
    let key = match args.algorithm {
        Alg::Hs256 => {
            let secret = std::env::var("EXPANSE_JWT_SECRET").map_err(|_| {
                "set EXPANSE_JWT_SECRET (at least 32 bytes) to sign HS256 tokens".to_owned()
            })?;
            return TokenIssuer::new(
                TokenConfig::hs256(secret.into_bytes()).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string());
        }
        Alg::Rs256 | Alg::Es256 => {
            let (Some(private), Some(public)) = (&args.private_key, &args.public_key) else {
                return Err(
                    "RS256 and ES256 need --private-key and --public-key (PEM files)".into(),
                );
            };
            let private_pem =
                std::fs::read(private).map_err(|e| format!("{}: {e}", private.display()))?;
            let public_pem =
                std::fs::read(public).map_err(|e| format!("{}: {e}", public.display()))?;
            if matches!(args.algorithm, Alg::Rs256) {
                SigningKey::Rs256 {
                    private_pem,
                    public_pem,
                }
            } else {
                SigningKey::Es256 {
                    private_pem,
                    public_pem,
                }
            }
        }
    };
    TokenIssuer::new(TokenConfig {
        key,
        access_lifetime: ACCESS_TOKEN_LIFETIME,
        refresh_lifetime: REFRESH_TOKEN_LIFETIME,
    })
    .map_err(|e| e.to_string())
}

pub fn run(args: TokenArgs) -> ExitCode {
    match execute(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

fn execute(args: &TokenArgs) -> Result<ExitCode, String> {
    let issuer = issuer(args)?;
    if let Some(token) = &args.verify {
        return Ok(
            match issuer
                .verify_access(token)
                .map(|c| serde_json::to_value(c).unwrap_or_default())
                .or_else(|e| {
                    issuer
                        .verify_refresh(token)
                        .map(|c| serde_json::to_value(c).unwrap_or_default())
                        .map_err(|refresh_error| match refresh_error {
                            crate::auth::TokenError::WrongType { .. } => e,
                            other => other,
                        })
                }) {
                Ok(claims) => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&claims).unwrap_or_default()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("token refused: {e}");
                    ExitCode::from(1)
                }
            },
        );
    }
    let Some(user_id) = &args.user else {
        return Err("give --user ID to issue tokens, or --verify TOKEN".into());
    };
    let app = Arc::new(App::load(&args.app).map_err(|e| e.to_string())?.app);
    if app.custom_user_data.as_ref().is_some_and(|c| c.enabled)
        && args.mongodb.is_none()
        && args.seed.is_none()
    {
        eprintln!(
            "warning: custom user data is enabled, but neither --mongodb nor --seed says where to read it: the token carries no user_data"
        );
    }
    let mut user = User::new(user_id.clone());
    if let Some(data) = &args.data {
        let json = crate::json::parse(data, "--data").map_err(|e| e.to_string())?;
        user = user.with_data(crate::json::to_document(&json).map_err(|e| e.to_string())?);
    }
    let runtime = super::runtime(super::Threads::One)?;
    let session = runtime.block_on(async {
        match &args.mongodb {
            Some(uri) => {
                let store = MongoStore::connect(uri).await.map_err(|e| e.to_string())?;
                Auth::new(app, store, issuer)
                    .login(user)
                    .await
                    .map_err(|e| e.to_string())
            }
            None => {
                let store = MemoryStore::new();
                if let Some(seed) = &args.seed {
                    let name = seed.display().to_string();
                    let json =
                        crate::json::parse(&read_file(seed)?, &name).map_err(|e| e.to_string())?;
                    store
                        .seed(&crate::json::to_document(&json).map_err(|e| e.to_string())?)
                        .map_err(|e| format!("{name}: {e}"))?;
                }
                Auth::new(app, store, issuer)
                    .login(user)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    })?;
    println!(
        "{}",
        serde_json::to_string_pretty(&session.tokens).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
