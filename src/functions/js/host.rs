//! The host calls a JavaScript function makes (`context.functions.execute`, collection
//! methods, `context.http` through [`super::http`]). Collection methods are read by
//! [`Operation::from_positional`] (every argument what the method takes, every option applied
//! or refused by name, never dropped; update pipelines refused) and performed by the one
//! dispatcher, through the `Context`.

use bson::Bson;
use serde_json::Value;

use super::bridge::{self, BridgeError};
use crate::functions::Context;
use crate::operation::{Operation, OperationError};
use crate::store::Store;

/// Why a host call was refused.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The prelude sent something it never sends.
    #[error("malformed host request")]
    Malformed,
    /// A value that cannot cross.
    #[error(transparent)]
    Value(#[from] BridgeError),
    /// The operation's arguments are not what it takes.
    #[error(transparent)]
    Operation(#[from] OperationError),
    /// No data source of that name.
    #[error("no data source named {0:?}")]
    NoService(String),
    /// The operation failed.
    #[error("{0}")]
    Failed(String),
    /// A `context.http` request was refused or failed.
    #[error(transparent)]
    Http(#[from] super::http::HttpError),
}

/// One request from the prelude.
pub struct Request {
    kind: String,
    name: String,
    service: String,
    database: String,
    collection: String,
    method: String,
    args: Vec<Bson>,
}

impl Request {
    /// Reads a request: plain strings naming what to call, and the arguments in the bridge's
    /// encoding.
    pub fn parse(text: &str) -> Result<Request, HostError> {
        let value: Value = serde_json::from_str(text).map_err(|_| HostError::Malformed)?;
        let field = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let args = match value.get("args") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| bridge::from_js_value(item, &format!("argument {}", i + 1)))
                .collect::<Result<Vec<Bson>, BridgeError>>()?,
            _ => return Err(HostError::Malformed),
        };
        Ok(Request {
            kind: field("kind").ok_or(HostError::Malformed)?,
            name: field("name").unwrap_or_default(),
            service: field("service").unwrap_or_default(),
            database: field("db").unwrap_or_default(),
            collection: field("coll").unwrap_or_default(),
            method: field("method").unwrap_or_default(),
            args,
        })
    }
}

/// Performs one request.
pub async fn perform<S: Store + Clone + 'static>(
    ctx: &Context<S>,
    request: Request,
) -> Result<Bson, HostError> {
    match request.kind.as_str() {
        "execute" => ctx
            .execute(&request.name, request.args)
            .await
            .map_err(|e| HostError::Failed(e.to_string())),
        "collection" => collection_call(ctx, request).await,
        "http" => Ok(super::http::perform(ctx.app_config(), &request.method, request.args).await?),
        _ => Err(HostError::Malformed),
    }
}

async fn collection_call<S: Store + Clone + 'static>(
    ctx: &Context<S>,
    request: Request,
) -> Result<Bson, HostError> {
    let service = ctx
        .services()
        .get(&request.service)
        .ok_or_else(|| HostError::NoService(request.service.clone()))?;
    let operation = Operation::from_positional(&request.method, request.args)?;
    let coll = service
        .db(&request.database)
        .collection(&request.collection);
    let result = coll
        .perform(&operation)
        .await
        .map_err(|e| HostError::Failed(e.to_string()))?;
    Ok(result.to_bson())
}
