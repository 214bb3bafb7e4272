//! The function registry and the rules for calling functions.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bson::{Bson, Document};

use super::context::Context;
use super::error::{FunctionError, Thrown};
use super::registry::Registry;
use super::result::check_result;
use super::tree::{CallTree, CancelOnDrop};
use crate::app::{App, FunctionConfig};
use crate::auth::{find_custom_data, BoxFuture, SystemFunctions};
use crate::diagnostic::Diagnostic;
use crate::expr::{Bindings, FunctionCaller};
use crate::store::Store;
use crate::User;

/// App Services' limit on one function call.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(300);
/// How deeply `context.functions.execute` may nest.
pub const DEFAULT_MAX_DEPTH: usize = 32;
/// The time limit of a function called by `%function` in rules.
pub const DEFAULT_RULE_FUNCTION_TIME_LIMIT: Duration = Duration::from_secs(5);

/// A function implemented in Rust. Closures `Fn(Context<S>, Vec<Bson>) -> impl Future<Output =
/// Result<Bson, Thrown>>` implement it; an error's text is what callers see (`FunctionExecutionError`).
pub trait Function<S: Store>: Send + Sync {
    /// Runs the function.
    fn call(&self, ctx: Context<S>, args: Vec<Bson>) -> BoxFuture<'static, Result<Bson, Thrown>>;
}

impl<S, F, Fut> Function<S> for F
where
    S: Store,
    F: Fn(Context<S>, Vec<Bson>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Bson, Thrown>> + Send + 'static,
{
    fn call(&self, ctx: Context<S>, args: Vec<Bson>) -> BoxFuture<'static, Result<Bson, Thrown>> {
        Box::pin((self)(ctx, args))
    }
}

pub(crate) struct Inner<S: Store> {
    pub app: Arc<App>,
    pub store: S,
    implementations: BTreeMap<String, Arc<dyn Function<S>>>,
    configs: BTreeMap<String, FunctionConfig>,
    time_limit: Duration,
    rule_time_limit: Duration,
    max_depth: usize,
    log: std::sync::Mutex<Vec<String>>,
    memory_limit: usize,
    /// Whether functions' guarded operations record decision traces (for rule authors).
    explain_rules: bool,
    /// Rule denials met by functions' guarded operations since the last take.
    denials: std::sync::Mutex<Vec<crate::rules::Denial>>,
}

/// The app's functions: configuration from `functions/config.json`, implementations registered
/// in Rust. Cheap to clone.
pub struct Functions<S: Store>(pub(crate) Arc<Inner<S>>);

impl<S: Store> Clone for Functions<S> {
    fn clone(&self) -> Self {
        Functions(self.0.clone())
    }
}

/// Builds a [`Functions`].
pub struct Builder<S: Store> {
    app: Arc<App>,
    store: S,
    implementations: BTreeMap<String, Arc<dyn Function<S>>>,
    time_limit: Duration,
    rule_time_limit: Duration,
    max_depth: usize,
    memory_limit: usize,
    explain_rules: bool,
}

/// A configured function with no implementation and no source.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct BuildError {
    /// The problems.
    pub errors: Vec<Diagnostic>,
}

impl<S: Store + Clone + 'static> Functions<S> {
    /// Starts building the functions of `app` over `store`.
    pub fn builder(app: Arc<App>, store: S) -> Builder<S> {
        Builder {
            app,
            store,
            implementations: BTreeMap::new(),
            time_limit: DEFAULT_TIME_LIMIT,
            rule_time_limit: DEFAULT_RULE_FUNCTION_TIME_LIMIT,
            max_depth: DEFAULT_MAX_DEPTH,
            memory_limit: crate::functions::js::DEFAULT_MEMORY_LIMIT,
            explain_rules: false,
        }
    }
}

impl<S: Store + Clone + 'static> Builder<S> {
    /// Registers a Rust implementation under a function name.
    pub fn register(
        mut self,
        name: impl Into<String>,
        function: impl Function<S> + 'static,
    ) -> Self {
        self.implementations.insert(name.into(), Arc::new(function));
        self
    }

    /// Records the decision trace of every rule denial a function meets, for
    /// [`Functions::take_denials`] (rule authors' tools; it costs a trace per decision).
    pub fn explain_rules(mut self, explain: bool) -> Self {
        self.explain_rules = explain;
        self
    }

    /// The time limit of one client call (default 300 s, as App Services): a deadline for the
    /// whole call tree, so a nested `context.functions.execute` gets only what is left of its
    /// caller's time. Rust functions are preempted at await points, JavaScript anywhere.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = limit;
        self
    }

    /// The time limit of a function called by `%function` in rules (default 5 s, and never more
    /// than [`Builder::time_limit`]), within whatever is left of the calling function's time.
    /// A rule function that runs out of time fails, and the rule with it (fail closed).
    pub fn rule_function_time_limit(mut self, limit: Duration) -> Self {
        self.rule_time_limit = limit;
        self
    }

    /// The JavaScript memory limit of one client call (default 64 MiB): the heaps of the call
    /// and of every call it makes share it, so a call tree never holds more.
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// How deeply `context.functions.execute` may nest (default 32).
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Checks implementations against `functions/config.json` and loads the app's JavaScript
    /// sources for entries without a Rust implementation (Rust wins where both exist): an
    /// implementation without an entry gets default settings (a warning, as App Services added a
    /// default entry on import); an entry with neither an implementation nor a source is an error.
    pub fn build(mut self) -> Result<(Functions<S>, Vec<Diagnostic>), BuildError> {
        let mut configs = self.app.functions.clone();
        let mut warnings = Vec::new();
        let mut errors = Vec::new();
        for name in self.implementations.keys() {
            if !configs.contains_key(name) {
                let at = crate::Location::new(
                    self.app
                        .dir
                        .join("functions/config.json")
                        .display()
                        .to_string(),
                    1,
                    1,
                );
                warnings.push(Diagnostic {
                    at: at.clone(),
                    message: format!("function {name:?} has an implementation but no entry in functions/config.json; it gets default settings"),
                    hint: None,
                });
                configs.insert(
                    name.clone(),
                    FunctionConfig::with_defaults(name.clone(), at, None),
                );
            }
        }
        for (name, config) in &configs {
            if self.implementations.contains_key(name) {
                continue;
            }
            let diagnostic = |message: String| Diagnostic {
                at: config.at.clone(),
                message,
                hint: None,
            };
            match &config.source {
                Some(source) => {
                    let js = crate::functions::js::JsSource::new(
                        name.clone(),
                        source.clone(),
                        self.time_limit,
                        self.memory_limit,
                    );
                    self.implementations.insert(name.clone(), Arc::new(js));
                }
                None => errors.push(diagnostic(format!(
                    "function {name:?} is configured but has no implementation and no source file"
                ))),
            }
        }
        if !errors.is_empty() {
            return Err(BuildError { errors });
        }
        Ok((
            Functions(Arc::new(Inner {
                app: self.app,
                store: self.store,
                implementations: self.implementations,
                configs,
                time_limit: self.time_limit,
                rule_time_limit: self.rule_time_limit,
                max_depth: self.max_depth,
                log: std::sync::Mutex::new(Vec::new()),
                memory_limit: self.memory_limit,
                explain_rules: self.explain_rules,
                denials: std::sync::Mutex::new(Vec::new()),
            })),
            warnings,
        ))
    }
}

impl<S: Store + Clone + 'static> Functions<S> {
    /// The app.
    pub fn app(&self) -> &Arc<App> {
        &self.0.app
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.0.store
    }

    pub(super) fn config(&self, name: &str) -> Result<&FunctionConfig, FunctionError> {
        self.0
            .configs
            .get(name)
            .ok_or_else(|| FunctionError::NotFound(name.to_owned()))
    }

    /// A call from a client (SDK, HTTP): private functions are refused and `can_evaluate` is
    /// checked first; the function runs as its configured execution user (by default the caller).
    pub async fn call(
        &self,
        caller: &User,
        name: &str,
        args: Vec<Bson>,
        request: Option<Document>,
    ) -> Result<Bson, FunctionError> {
        let tree = self.new_tree();
        let config = self.config(name)?;
        if config.private {
            return Err(FunctionError::Private(name.to_owned()));
        }
        if let Some(can_evaluate) = &config.can_evaluate {
            let mut ctx = Bindings::new()
                .user(caller.document())
                .values(&self.0.app.values)
                .environment(&self.0.app.environment);
            if let Some(r) = &request {
                ctx = ctx.request(r);
            }
            if !can_evaluate.evaluate(&ctx) {
                return Err(FunctionError::CannotEvaluate(name.to_owned()));
            }
        }
        let execution = self.execution_user(config, caller, &tree).await?;
        self.run(
            name,
            Context::new(
                self.registry(),
                caller.clone(),
                execution,
                0,
                request.map(Arc::new),
                tree,
            ),
            args,
        )
        .await
    }

    /// This registry as a context needs it.
    pub(super) fn registry(&self) -> Arc<dyn Registry<S>> {
        Arc::new(self.clone())
    }

    /// A call tree for a new client call.
    pub(super) fn new_tree(&self) -> CallTree {
        CallTree::new(self.0.time_limit, self.0.memory_limit)
    }

    /// A call as the system user (the CLI's default, triggers, the user creation function).
    pub async fn call_as_system(&self, name: &str, args: Vec<Bson>) -> Result<Bson, FunctionError> {
        self.config(name)?;
        let tree = self.new_tree();
        self.run(
            name,
            Context::new(
                self.registry(),
                User::system(),
                User::system(),
                0,
                None,
                tree,
            ),
            args,
        )
        .await
    }

    /// A trusted call on behalf of a user (an operator's `expanse run --as`): private functions
    /// may be called and `can_evaluate` is not checked; the function runs as its configured
    /// execution user (by default that user).
    pub async fn call_as_user(
        &self,
        user: &User,
        name: &str,
        args: Vec<Bson>,
    ) -> Result<Bson, FunctionError> {
        self.call_as_user_in(self.new_tree(), user, name, args)
            .await
    }

    /// [`Functions::call_as_user`] within a given call tree.
    async fn call_as_user_in(
        &self,
        tree: CallTree,
        user: &User,
        name: &str,
        args: Vec<Bson>,
    ) -> Result<Bson, FunctionError> {
        let config = self.config(name)?;
        let execution = self.execution_user(config, user, &tree).await?;
        self.run(
            name,
            Context::new(self.registry(), user.clone(), execution, 0, None, tree),
            args,
        )
        .await
    }

    /// `context.functions.execute` from inside a function: private functions allowed; the callee
    /// runs as the caller's execution user unless configured otherwise.
    pub(crate) async fn execute(
        &self,
        from: &Context<S>,
        name: &str,
        args: Vec<Bson>,
    ) -> Result<Bson, FunctionError> {
        let config = self.config(name)?;
        if from.depth() + 1 > self.0.max_depth {
            return Err(FunctionError::TooDeep {
                name: name.to_owned(),
                limit: self.0.max_depth,
            });
        }
        let tree = from.tree().child();
        let execution = self
            .execution_user(config, from.execution_user(), &tree)
            .await?;
        let ctx = Context::new(
            from.registry().clone(),
            from.user().clone(),
            execution,
            from.depth() + 1,
            from.request_arc(),
            tree,
        );
        self.run(name, ctx, args).await
    }

    /// `run_as_system` → system; `run_as_user_id` → that user (with their custom data);
    /// otherwise the given user.
    pub(super) async fn execution_user(
        &self,
        config: &FunctionConfig,
        default: &User,
        tree: &CallTree,
    ) -> Result<User, FunctionError> {
        if config.run_as_system {
            return Ok(User::system());
        }
        if let Some(id) = &config.run_as_user_id {
            let custom = find_custom_data(&self.0.store, self.0.app.custom_user_data.as_ref(), id)
                .await
                .map_err(|e| FunctionError::Execution {
                    name: config.name.clone(),
                    message: format!("reading custom data of run_as_user_id {id}: {e}"),
                })?;
            return Ok(User::new(id.clone()).with_custom_data(custom));
        }
        if let Some(script) = &config.run_as_user_id_script_source {
            return self.script_user(config, script, tree).await;
        }
        Ok(default.clone())
    }

    /// Runs `run_as_user_id_script_source` (as the system user): it returns a user id, or
    /// `{"runAsSystem": true}`.
    async fn script_user(
        &self,
        config: &FunctionConfig,
        script: &str,
        tree: &CallTree,
    ) -> Result<User, FunctionError> {
        let source = if script.contains("exports") {
            script.to_owned()
        } else {
            format!("exports = ({script});")
        };
        let js = crate::functions::js::JsSource::new(
            format!("{} (run_as_user_id_script_source)", config.name),
            source.into(),
            self.0.time_limit,
            self.0.memory_limit,
        );
        let tree = tree.child();
        let _cancel = CancelOnDrop(tree.clone());
        let ctx = Context::new(
            self.registry(),
            User::system(),
            User::system(),
            0,
            None,
            tree,
        );
        let fail = |message: String| FunctionError::Execution {
            name: config.name.clone(),
            message: format!("run_as_user_id_script_source: {message}"),
        };
        match Function::call(&js, ctx, Vec::new())
            .await
            .map_err(|e| fail(e.to_string()))?
        {
            Bson::String(id) if !id.is_empty() => {
                let custom =
                    find_custom_data(&self.0.store, self.0.app.custom_user_data.as_ref(), &id)
                        .await
                        .map_err(|e| fail(e.to_string()))?;
                Ok(User::new(id).with_custom_data(custom))
            }
            Bson::Document(d) if d.get_bool("runAsSystem").unwrap_or(false) => Ok(User::system()),
            other => Err(fail(format!(
                "expected a user id or {{runAsSystem: true}}, got {other}"
            ))),
        }
    }

    pub(crate) fn log(&self, line: String) {
        if let Ok(mut log) = self.0.log.lock() {
            log.push(line);
        }
    }

    /// Whether guarded operations inside functions record decision traces.
    pub(crate) fn explains_rules(&self) -> bool {
        self.0.explain_rules
    }

    /// Notes a rule denial met by a function's guarded operation.
    pub(crate) fn record_denial(&self, denial: &crate::rules::Denial) {
        if let Ok(mut denials) = self.0.denials.lock() {
            denials.push(denial.clone());
        }
    }

    /// The rule denials functions' guarded operations met since the last call of this method
    /// (with their decision traces when built with [`Builder::explain_rules`]), so a caller can
    /// tell a call that failed because the rules refused it from one that failed otherwise.
    pub fn take_denials(&self) -> Vec<crate::rules::Denial> {
        self.0
            .denials
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default()
    }

    /// The `console.log` lines written since the last call of this method.
    pub fn take_log(&self) -> Vec<String> {
        self.0
            .log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    pub(super) async fn run(
        &self,
        name: &str,
        ctx: Context<S>,
        args: Vec<Bson>,
    ) -> Result<Bson, FunctionError> {
        let implementation = self
            .0
            .implementations
            .get(name)
            .cloned()
            .ok_or_else(|| FunctionError::NoImplementation(name.to_owned()))?;
        let system_mode = ctx.running_as_system();
        if system_mode {
            tracing::info!(target: "expanse::decisions", function = name, caller = %ctx.user().id, "system-mode function call");
        }
        let tree = ctx.tree().clone();
        let timeout = FunctionError::Timeout {
            name: name.to_owned(),
            seconds: tree.limit().as_secs_f64(),
        };
        if tree.stopped() {
            return Err(timeout);
        }
        // Whatever this call started stops with it: finished, timed out, or dropped.
        let _cancel = CancelOnDrop(tree.clone());
        let deadline = tokio::time::Instant::from_std(tree.deadline());
        match tokio::time::timeout_at(deadline, implementation.call(ctx, args)).await {
            Ok(Ok(value)) => {
                check_result(&value)
                    .map(|()| value)
                    .map_err(|reason| FunctionError::Result {
                        name: name.to_owned(),
                        reason,
                    })
            }
            Ok(Err(thrown)) => Err(FunctionError::Execution {
                name: name.to_owned(),
                message: thrown.to_string(),
            }),
            Err(_) => Err(timeout),
        }
    }

    /// The bridge rules use for `%function`, for requests of `user`: each call gets the rule
    /// function time limit ([`Builder::rule_function_time_limit`]) and a memory budget of its own.
    pub fn for_rules(&self, user: &User) -> RuleFunctions<S> {
        RuleFunctions {
            functions: self.clone(),
            user: user.clone(),
            within: None,
        }
    }

    /// `%function` for rules evaluated inside a running function: each call gets the rule
    /// function time limit within what is left of `tree`'s time, shares its memory budget, and
    /// stops with it.
    pub(crate) fn for_rules_within(&self, user: &User, tree: &CallTree) -> RuleFunctions<S> {
        RuleFunctions {
            functions: self.clone(),
            user: user.clone(),
            within: Some(tree.clone()),
        }
    }

    /// The call tree of one `%function` call: the rule function time limit, never more than a
    /// function's.
    fn rule_tree(&self, within: Option<&CallTree>) -> CallTree {
        let limit = self.0.rule_time_limit.min(self.0.time_limit);
        match within {
            Some(tree) => tree.child_within(limit),
            None => CallTree::new(limit, self.0.memory_limit),
        }
    }
}

impl<S: Store + Clone + 'static> Registry<S> for Functions<S> {
    fn app(&self) -> &Arc<App> {
        Functions::app(self)
    }

    fn store(&self) -> &S {
        Functions::store(self)
    }

    fn execute<'a>(
        &'a self,
        from: &'a Context<S>,
        name: &'a str,
        args: Vec<Bson>,
    ) -> BoxFuture<'a, Result<Bson, FunctionError>> {
        Box::pin(Functions::execute(self, from, name, args))
    }

    fn rule_functions(&self, user: &User, tree: &CallTree) -> Box<dyn FunctionCaller> {
        Box::new(self.for_rules_within(user, tree))
    }

    fn log(&self, line: String) {
        Functions::log(self, line);
    }

    fn explains_rules(&self) -> bool {
        Functions::explains_rules(self)
    }

    fn record_denial(&self, denial: &crate::rules::Denial) {
        Functions::record_denial(self, denial);
    }
}

impl<S: Store + Clone + 'static> SystemFunctions for Functions<S> {
    fn call_as_system<'a>(
        &'a self,
        name: &'a str,
        args: Vec<Bson>,
    ) -> BoxFuture<'a, Result<Bson, Thrown>> {
        Box::pin(async move { Ok(Functions::call_as_system(self, name, args).await?) })
    }
}

/// `%function` in rules: calls the function (private ones too) as its configured execution user
/// (by default the requesting user), within the rule function time limit. Guarded collections
/// run these calls as futures between rounds of evaluation ([`FunctionCaller::call_later`]),
/// on either tokio runtime flavour. The blocking form ([`FunctionCaller::call`], for evaluating
/// an expression directly) needs tokio's multi-threaded runtime; elsewhere the call fails, and
/// the expression with it (fail closed).
pub struct RuleFunctions<S: Store> {
    functions: Functions<S>,
    user: User,
    /// The call tree of the function whose read or write evaluates the rules, if any.
    within: Option<CallTree>,
}

impl<S: Store + Clone + 'static> FunctionCaller for RuleFunctions<S> {
    fn call(&self, name: &str, args: Vec<Bson>, _: &Bindings<'_>) -> Result<Bson, Thrown> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| Thrown::from("%function needs a tokio runtime"))?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err("%function needs tokio's multi-threaded runtime".into());
        }
        let functions = self.functions.clone();
        let user = self.user.clone();
        let tree = functions.rule_tree(self.within.as_ref());
        tokio::task::block_in_place(|| {
            handle.block_on(async move { functions.call_as_user_in(tree, &user, name, args).await })
        })
        .map_err(Thrown::from)
    }

    fn calls_later(&self) -> bool {
        true
    }

    fn call_later(&self, name: &str, args: Vec<Bson>) -> Option<crate::expr::LaterResult<'_>> {
        let tree = self.functions.rule_tree(self.within.as_ref());
        let name = name.to_owned();
        Some(Box::pin(async move {
            self.functions
                .call_as_user_in(tree, &self.user, &name, args)
                .await
                .map_err(Thrown::from)
        }))
    }
}
