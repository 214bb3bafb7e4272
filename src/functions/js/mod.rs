//! Running App Services JavaScript functions unchanged (`exports = async function (…) {…}`) in
//! QuickJS (through `rquickjs`): small, fast to start, no JIT, a fresh isolated runtime per
//! call.
//!
//! Calls into the host (`context.services…collection(…).find(…)`, `context.functions.execute`)
//! return Promises that Expanse settles by running the operation through the same guarded
//! collections and function registry as Rust functions. Values cross exactly or not at all
//! (see [`bridge`](self) and the README's table): an ObjectId stays an ObjectId, an Int64 a
//! `BSON.Long`, a `RegExp` a regular expression; a function, a Symbol, a cycle or a `Map` is
//! refused with an error naming where it is.
//!
//! Limits: the call tree's deadline (QuickJS's interrupt handler stops the script when it
//! passes or when a caller is cancelled), the call tree's memory budget (every heap of one
//! client call allocates from it), MongoDB's 100 levels of nesting and 16 MiB for a result.

mod bridge;
// The one place with unsafe code: QuickJS calls its allocator through a raw-pointer trait.
#[allow(unsafe_code)]
mod heap;
mod host;
mod syntax;

pub use bridge::{BridgeError, Problem, JS_DATE_LIMIT_MS};
pub use syntax::{syntax_error, SyntaxError};

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use bson::{doc, Bson};
use rquickjs::{Context as JsContext, Function as JsFunction, Runtime};

use crate::auth::BoxFuture;
use crate::functions::{CallTree, CancelOnDrop, Context, Function};
use crate::limits::{MAX_DEPTH, MAX_DOCUMENT_SIZE};
use crate::store::Store;

const PRELUDE: &str = include_str!("prelude.js");

/// The BSON types other than ObjectId, and EJSON: compiled only when a call needs them.
const PRELUDE_EXTRAS: &str = include_str!("prelude_extras.js");

/// Default memory limit of one client call's JavaScript heaps (the call and every call it
/// makes, together).
pub const DEFAULT_MEMORY_LIMIT: usize = 64 * 1024 * 1024;

/// How often a call waiting for the host checks whether it must stop.
const STOP_POLL: Duration = Duration::from_millis(10);

/// The largest stack a script may use.
const MAX_STACK_SIZE: usize = 1024 * 1024;

/// A JavaScript function source.
#[derive(Debug, Clone)]
pub struct JsSource {
    /// The function's name.
    pub name: String,
    /// The source (`exports = function …`).
    pub source: std::sync::Arc<str>,
    /// The most one call may take; the call tree's deadline usually comes first.
    pub time_limit: Duration,
    /// The most one call's heap may hold; the call tree's budget usually comes first.
    pub memory_limit: usize,
}

impl<S: Store + Clone + 'static> Function<S> for JsSource {
    fn call(&self, ctx: Context<S>, args: Vec<Bson>) -> BoxFuture<'static, Result<Bson, String>> {
        let source = self.clone();
        Box::pin(async move {
            let tree = ctx.tree().child_within(source.time_limit);
            // The script stops when this future is dropped (its caller timed out or went away).
            let _cancel = CancelOnDrop(tree.clone());
            let ctx = ctx.with_tree(tree);
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || run(&source, ctx, args, handle))
                .await
                .map_err(|e| format!("the JavaScript call did not finish: {e}"))?
        })
    }
}

/// What the script hands the host while it runs.
#[derive(Default)]
struct Shared {
    /// Host calls: `(id, request)`.
    requests: RefCell<Vec<(u32, String)>>,
    /// The result (`Ok`, in the bridge's encoding) or the error message.
    outcome: RefCell<Option<Result<String, String>>>,
    /// `console.log` lines.
    logs: RefCell<Vec<String>>,
}

/// Why the call tree stopped this call, for `what`.
fn stop_message(tree: &CallTree, what: &str) -> String {
    if Instant::now() >= tree.deadline() {
        format!(
            "{what}: exceeded the time limit of {:.1} s",
            tree.limit().as_secs_f64()
        )
    } else {
        format!("{what}: stopped because its caller stopped")
    }
}

/// A QuickJS runtime allocating from the call tree's budget, stopped by the call tree.
fn start_runtime(source: &JsSource, tree: &CallTree) -> Result<Runtime, String> {
    let allocator = heap::BudgetAllocator::new(tree.memory().clone());
    let runtime = Runtime::new_with_alloc(allocator).map_err(|e| {
        let budget = tree.memory();
        format!(
            "cannot start QuickJS: {e} ({} of the call's {} MiB of JavaScript memory in use)",
            budget.used(),
            budget.limit() / (1024 * 1024)
        )
    })?;
    runtime.set_memory_limit(source.memory_limit);
    runtime.set_max_stack_size(MAX_STACK_SIZE);
    let stop = tree.clone();
    runtime.set_interrupt_handler(Some(Box::new(move || stop.stopped())));
    Ok(runtime)
}

fn install<'js>(
    globals: &rquickjs::Object<'js>,
    name: &str,
    f: rquickjs::Result<JsFunction<'js>>,
) -> Result<(), String> {
    globals
        .set(name, f.map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())
}

/// The host functions and constants the prelude uses.
fn install_host(js: &rquickjs::Ctx<'_>, shared: &Rc<Shared>) -> Result<(), String> {
    let globals = js.globals();
    let (r, o, l) = (shared.clone(), shared.clone(), shared.clone());
    install(
        &globals,
        "__enqueue",
        JsFunction::new(js.clone(), move |id: u32, body: String| {
            r.requests.borrow_mut().push((id, body));
        }),
    )?;
    install(
        &globals,
        "__done",
        JsFunction::new(js.clone(), move |ok: bool, payload: String| {
            *o.outcome.borrow_mut() = Some(if ok { Ok(payload) } else { Err(payload) });
        }),
    )?;
    install(
        &globals,
        "__log",
        JsFunction::new(js.clone(), move |line: String| {
            l.logs.borrow_mut().push(line);
        }),
    )?;
    install(
        &globals,
        "__extrasSource",
        JsFunction::new(js.clone(), || PRELUDE_EXTRAS),
    )?;
    install(
        &globals,
        "__newObjectId",
        JsFunction::new(js.clone(), || bson::oid::ObjectId::new().to_hex()),
    )?;
    let constants = [
        ("__MAX_DEPTH", MAX_DEPTH),
        ("__MAX_RESULT_SIZE", MAX_DOCUMENT_SIZE),
    ];
    for (name, value) in constants {
        let value = u32::try_from(value).map_err(|e| e.to_string())?;
        globals.set(name, value).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Loads the prelude and the source, and starts the call.
fn start_call(
    js: &rquickjs::Ctx<'_>,
    source: &JsSource,
    info: &str,
    arguments: &str,
) -> Result<(), String> {
    let evaluate = |code: &str, what: &str| -> Result<(), String> {
        js.eval::<(), _>(code)
            .map_err(|_| describe_exception(&js.catch(), what))
    };
    evaluate(PRELUDE, "the prelude")?;
    // Named as the app names it, so errors and stacks say functions/<name>.js:line:col.
    let mut options = rquickjs::context::EvalOptions::default();
    options.filename = Some(source_file(&source.name));
    js.eval_with_options::<(), _>(&*source.source, options)
        .map_err(|_| describe_exception(&js.catch(), &format!("function {}", source.name)))?;
    let start: JsFunction = js.globals().get("__start").map_err(|e| e.to_string())?;
    start
        .call::<_, ()>((info, arguments))
        .map_err(|_| describe_exception(&js.catch(), "the call"))
}

/// Runs one call to completion on the current (blocking) thread.
fn run<S: Store + Clone + 'static>(
    source: &JsSource,
    ctx: Context<S>,
    args: Vec<Bson>,
    handle: tokio::runtime::Handle,
) -> Result<Bson, String> {
    let tree = ctx.tree().clone();
    let arguments =
        bridge::to_js_text(&Bson::Array(args), "arguments").map_err(|e| e.to_string())?;
    let info = context_info(&ctx)?;
    let runtime = start_runtime(source, &tree)?;
    let js = JsContext::full(&runtime).map_err(|e| format!("cannot start QuickJS: {e}"))?;
    let shared = Rc::new(Shared::default());
    js.with(|js| {
        install_host(&js, &shared)?;
        start_call(&js, source, &info, &arguments)
    })
    .map_err(|e| {
        if tree.stopped() {
            stop_message(&tree, &e)
        } else {
            e
        }
    })?;

    loop {
        let failure = run_jobs(&runtime, &tree);
        flush_logs(&ctx, &shared);
        if let Some(outcome) = shared.outcome.borrow_mut().take() {
            return match outcome {
                Ok(text) => bridge::from_js_text(&text, "result").map_err(|e| e.to_string()),
                Err(_) if tree.stopped() => Err(stop_message(&tree, "the function")),
                Err(message) => Err(message),
            };
        }
        if tree.stopped() {
            return Err(stop_message(&tree, "the function"));
        }
        let pending: Vec<(u32, String)> = shared.requests.borrow_mut().drain(..).collect();
        if pending.is_empty() {
            return Err(failure.unwrap_or_else(|| "the function's promise never settled".into()));
        }
        let answers: Vec<(u32, Result<Bson, String>)> = pending
            .into_iter()
            .map(|(id, body)| (id, perform_blocking(&handle, &ctx, &tree, &body)))
            .collect();
        js.with(|js| deliver(&js, answers))?;
    }
}

/// Runs the script's pending jobs; the message of the first exception a job let escape.
fn run_jobs(runtime: &Runtime, tree: &CallTree) -> Option<String> {
    let mut failure = None;
    loop {
        match runtime.execute_pending_job() {
            Ok(true) => {}
            Ok(false) => return failure,
            Err(exception) => {
                if tree.stopped() {
                    return failure;
                }
                let message = exception
                    .0
                    .with(|js| describe_exception(&js.catch(), "the function"));
                failure.get_or_insert(message);
            }
        }
    }
}

/// Settles the script's pending host calls.
fn deliver(
    js: &rquickjs::Ctx<'_>,
    answers: Vec<(u32, Result<Bson, String>)>,
) -> Result<(), String> {
    let resolve: JsFunction = js.globals().get("__resolve").map_err(|e| e.to_string())?;
    for (id, answer) in answers {
        let (ok, payload) = match answer
            .and_then(|value| bridge::to_js_text(&value, "answer").map_err(|e| e.to_string()))
        {
            Ok(text) => (true, text),
            Err(message) => (false, message),
        };
        resolve
            .call::<_, ()>((id, ok, payload))
            .map_err(|_| describe_exception(&js.catch(), "resolving a host call"))?;
    }
    Ok(())
}

/// Performs one host call on the tokio runtime and waits for it on this (blocking) thread,
/// giving up as soon as the call tree stops: the host call is then aborted, which cancels any
/// function it was running.
fn perform_blocking<S: Store + Clone + 'static>(
    handle: &tokio::runtime::Handle,
    ctx: &Context<S>,
    tree: &CallTree,
    body: &str,
) -> Result<Bson, String> {
    let what = "a database or function call";
    let request = host::Request::parse(body).map_err(|e| e.to_string())?;
    let (sender, receiver) = mpsc::channel();
    let ctx = ctx.clone();
    let deadline = tokio::time::Instant::from_std(tree.deadline());
    let task = handle.spawn(async move {
        let answer = tokio::time::timeout_at(deadline, host::perform(&ctx, request)).await;
        let _ = sender.send(answer.map(|r| r.map_err(|e| e.to_string())));
    });
    loop {
        match receiver.recv_timeout(STOP_POLL) {
            Ok(Ok(answer)) => return answer,
            Ok(Err(_)) => return Err(stop_message(tree, what)),
            Err(RecvTimeoutError::Timeout) if tree.stopped() => {
                task.abort();
                return Err(stop_message(tree, what));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(format!(
                    "{what} was abandoned: the runtime is shutting down"
                ))
            }
        }
    }
}

/// Where a function's source is, as the app's files name it.
fn source_file(name: &str) -> String {
    format!("functions/{name}.js")
}

/// An exception's message, where the function's source threw it (`functions/<name>.js:line:col`,
/// from QuickJS's stack), and the stack's frames in the function's own source.
fn describe_exception(value: &rquickjs::Value<'_>, what: &str) -> String {
    if let Some(exception) = value.as_exception() {
        let message = exception.message().unwrap_or_default();
        if message == "interrupted" {
            return format!("{what} was interrupted");
        }
        let frames: Vec<String> = exception
            .stack()
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| l.contains("functions/"))
            .map(str::to_owned)
            .collect();
        let at = frames
            .first()
            .and_then(|frame| frame.split_whitespace().last())
            .map(|place| place.trim_matches(|c| c == '(' || c == ')'))
            .map(|place| format!(" (at {place})"))
            .unwrap_or_default();
        let stack = if frames.len() > 1 {
            format!("\n  {}", frames.join("\n  "))
        } else {
            String::new()
        };
        return format!("{what}: {message}{at}{stack}");
    }
    if let Some(text) = value.as_string().and_then(|s| s.to_string().ok()) {
        return format!("{what}: {text}");
    }
    format!("{what} failed")
}

fn flush_logs<S: Store + Clone + 'static>(ctx: &Context<S>, shared: &Shared) {
    for line in shared.logs.borrow_mut().drain(..) {
        tracing::info!(target: "expanse::functions::log", caller = %ctx.user().id, "{line}");
        ctx.log(line);
    }
}

/// What the script's `context` holds, in the bridge's encoding.
fn context_info<S: Store + Clone + 'static>(ctx: &Context<S>) -> Result<String, String> {
    let user = ctx.user();
    let mut user_doc = user.document().clone();
    if user.is_system() {
        user_doc = doc! {"type": "system", "data": {}, "custom_data": {}, "identities": []};
    }
    let services: Vec<Bson> = ctx.service_names().into_iter().map(Bson::String).collect();
    let info = doc! {
        "user": user_doc,
        "runningAsSystem": ctx.running_as_system(),
        "values": ctx.values_document(),
        "environment": ctx.environment().clone(),
        "request": ctx.request().cloned().map(Bson::Document).unwrap_or(Bson::Null),
        "app": ctx.app(),
        "services": services,
    };
    bridge::to_js_text(&Bson::Document(info), "context").map_err(|e| e.to_string())
}
