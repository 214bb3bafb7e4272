//! What a function's [`Context`] needs from the function registry, as a narrow trait:
//! [`Functions`](super::Functions) implements it, and a context holds it behind an `Arc`, so the
//! context knows nothing else of the registry (its configs, implementations, limits).

use std::sync::Arc;

use bson::Bson;

use super::context::Context;
use super::error::FunctionError;
use super::tree::CallTree;
use crate::app::App;
use crate::auth::BoxFuture;
use crate::expr::FunctionCaller;
use crate::rules::Denial;
use crate::store::Store;
use crate::User;

/// The registry as a running function's context sees it.
pub(crate) trait Registry<S: Store>: Send + Sync {
    /// The app: its values, environment, data sources and rules.
    fn app(&self) -> &Arc<App>;

    /// The store the context's collections read and write.
    fn store(&self) -> &S;

    /// `context.functions.execute(name, ...args)` from the function running in `from`.
    fn execute<'a>(
        &'a self,
        from: &'a Context<S>,
        name: &'a str,
        args: Vec<Bson>,
    ) -> BoxFuture<'a, Result<Bson, FunctionError>>;

    /// `%function` for the rules of a collection `user` works with, within `tree`'s limits.
    fn rule_functions(&self, user: &User, tree: &CallTree) -> Box<dyn FunctionCaller>;

    /// Appends a line to the call log (`console.log`).
    fn log(&self, line: String);

    /// Whether guarded operations record decision traces.
    fn explains_rules(&self) -> bool;

    /// Notes a rule denial a guarded operation met.
    fn record_denial(&self, denial: &Denial);
}
