//! Functions with a `context`, run as the calling user (rules apply) or as the system user
//! (rules bypassed) — App Services: https://www.mongodb.com/docs/atlas/app-services/functions/.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use bson::{bson, doc};
//! use expanse::functions::{Context, Functions};
//! use expanse::store::MemoryStore;
//! use expanse::{App, User};
//!
//! let app = std::sync::Arc::new(App::load("fixtures/app")?.app);
//! let (functions, _warnings) = Functions::builder(app, MemoryStore::new())
//!     .register("setLanguage", |ctx: Context<MemoryStore>, args: Vec<bson::Bson>| async move {
//!         let users = ctx.services().get("mongodb-atlas").ok_or("no data source")?.db("notes_app").collection("users");
//!         let language = args.first().cloned().unwrap_or(bson!("en"));
//!         let id = ctx.user().id.clone();
//!         let r = users.update_one(&doc! {"user_id": id}, &doc! {"$set": {"language": language}}, false).await?;
//!         Ok(bson!(r.matched_count == 1))
//!     })
//!     .build()?;
//! # let _ = functions; Ok(()) }
//! ```

mod context;
mod endpoint;
mod error;
pub mod js;
mod registry;
mod result;
mod runtime;
mod tree;

pub use context::{Context, ContextCollection, ContextDatabase, ServiceClient, Services};
pub use endpoint::{BadStatus, EndpointCaller, EndpointOutcome, EndpointResponse};
pub use error::{FunctionError, Thrown};
pub use result::{check_result, ResultError};
pub use runtime::{
    BuildError, Builder, Function, Functions, RuleFunctions, DEFAULT_MAX_DEPTH,
    DEFAULT_RULE_FUNCTION_TIME_LIMIT, DEFAULT_TIME_LIMIT,
};
pub(crate) use tree::{CallTree, CancelOnDrop, MemoryBudget};
