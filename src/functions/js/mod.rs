//! Running App Services JavaScript functions unchanged (`exports = async function (…) {…}`) in
//! QuickJS (through `rquickjs`): small, fast to start, no JIT.
//!
//! Each call runs in the hardened context of a QuickJS runtime the thread keeps between calls
//! ([`realm`](self): what is frozen, what a call's end deletes, when a context is dropped
//! instead; [`engine`](self): the pool). A call that needs no host (no database, no nested
//! function, no waiting timer) runs on the caller's thread for at most [`INLINE_SLICE`]; one
//! that needs more is run again, from the start, on a blocking thread (nothing it did could be
//! seen: it had sent nothing to the host, and its log is dropped), and the function is sent
//! there directly from then on.
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
//! client call allocates from it while it serves the call), MongoDB's 100 levels of nesting and
//! 16 MiB for a result.

mod bridge;
mod call;
mod compiled;
mod engine;
// The one place with unsafe code: QuickJS calls its allocator through a raw-pointer trait.
#[allow(unsafe_code)]
mod heap;
mod host;
mod http;
mod native;
mod realm;
// The other place with unsafe code: compiling a source at a given first line (`JS_Eval2`).
#[allow(unsafe_code)]
mod script;
mod syntax;

pub use bridge::{BridgeError, Problem, JS_DATE_LIMIT_MS};
pub use syntax::{syntax_error, SyntaxError};

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{doc, Bson};

use crate::auth::BoxFuture;
use crate::functions::{CallTree, CancelOnDrop, Context, Function, Thrown};
use crate::store::Store;

use call::{Call, Step};
use engine::Engine;

const PRELUDE: &str = include_str!("prelude.js");

/// The BSON types other than ObjectId, and EJSON: compiled to bytecode with the prelude, loaded
/// into a call only when it needs them.
const PRELUDE_EXTRAS: &str = include_str!("prelude_extras.js");

/// `utils`, `Buffer`, `TextEncoder`/`TextDecoder`, `crypto`, `setTimeout`: compiled to bytecode
/// with the prelude, loaded into a call only when it touches one of them.
const PRELUDE_NODE: &str = include_str!("prelude_node.js");

/// Host calls (the database, `context.functions.execute`): compiled to bytecode with the prelude,
/// loaded into a call only when it reaches for them.
const PRELUDE_SERVICES: &str = include_str!("prelude_services.js");

/// Hardening a context so that it can serve call after call (see [`realm`](self)).
const HARDEN: &str = include_str!("harden.js");

/// Default memory limit of one client call's JavaScript heaps (the call and every call it
/// makes, together).
pub const DEFAULT_MEMORY_LIMIT: usize = 64 * 1024 * 1024;

/// How often a call waiting for the host checks whether it must stop.
const STOP_POLL: Duration = Duration::from_millis(10);

/// The longest a call runs on the caller's thread before it is moved to a blocking thread.
pub const INLINE_SLICE: Duration = Duration::from_millis(2);

/// A JavaScript function source.
#[derive(Debug, Clone)]
pub struct JsSource {
    /// The function's name.
    pub name: String,
    /// The source (`exports = function …`).
    pub source: Arc<str>,
    /// The most one call may take; the call tree's deadline usually comes first.
    pub time_limit: Duration,
    /// The most one call's heap may hold; the call tree's budget usually comes first.
    pub memory_limit: usize,
    /// Set once a call of this function needed the host, or [`MAX_OVERRUNS`] calls in a row
    /// needed more than [`INLINE_SLICE`]: its calls then go to a blocking thread directly.
    pub needs_thread: Arc<AtomicBool>,
    /// Calls in a row that needed more than [`INLINE_SLICE`] (a busy machine can stretch a
    /// quick call past it, so one is not enough to send every later call to a thread).
    pub overruns: Arc<AtomicU8>,
}

/// Calls in a row that overran [`INLINE_SLICE`] before a function's calls go to a blocking
/// thread directly.
pub const MAX_OVERRUNS: u8 = 3;

/// How an attempt to run a call on the caller's thread ended.
enum Inline {
    /// It finished.
    Done(Result<Bson, String>),
    /// It needs the host or a waiting timer.
    NeedsHost,
    /// It needed more than the slice.
    OutOfSlice,
}

impl JsSource {
    /// A source with no history.
    pub fn new(
        name: String,
        source: Arc<str>,
        time_limit: Duration,
        memory_limit: usize,
    ) -> JsSource {
        JsSource {
            name,
            source,
            time_limit,
            memory_limit,
            needs_thread: Arc::new(AtomicBool::new(false)),
            overruns: Arc::new(AtomicU8::new(0)),
        }
    }
}

impl<S: Store + Clone + 'static> Function<S> for JsSource {
    fn call(&self, ctx: Context<S>, args: Vec<Bson>) -> BoxFuture<'static, Result<Bson, Thrown>> {
        let source = self.clone();
        Box::pin(async move {
            let tree = ctx.tree().child_within(source.time_limit);
            // The script stops when this future is dropped (its caller timed out or went away).
            let _cancel = CancelOnDrop(tree.clone());
            let ctx = ctx.with_tree(tree);
            let prepared = prepare(&ctx, args)?;
            // An endpoint call returns `{result, response}`: the response goes to its slot.
            let endpoint = ctx.endpoint_slot().cloned();
            let unwrap = move |outcome: Result<Bson, String>| match &endpoint {
                Some(slot) => outcome.and_then(|v| crate::functions::endpoint::unwrap_js(v, slot)),
                None => outcome,
            };
            if !source.needs_thread.load(Ordering::Relaxed) {
                match run_inline(&source, &ctx, &prepared) {
                    Inline::Done(result) => {
                        source.overruns.store(0, Ordering::Relaxed);
                        return unwrap(result).map_err(Thrown::from);
                    }
                    Inline::NeedsHost => source.needs_thread.store(true, Ordering::Relaxed),
                    Inline::OutOfSlice => {
                        if source.overruns.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_OVERRUNS {
                            source.needs_thread.store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
            let handle = tokio::runtime::Handle::current();
            let outcome = tokio::task::spawn_blocking(move || run(&source, ctx, &prepared, handle))
                .await
                .map_err(|e| format!("the JavaScript call did not finish: {e}"))?;
            Ok(unwrap(outcome)?)
        })
    }
}

/// The call's `context` and arguments, in the bridge's encoding.
struct Prepared {
    info: String,
    arguments: String,
}

fn prepare<S: Store + Clone + 'static>(
    ctx: &Context<S>,
    args: Vec<Bson>,
) -> Result<Prepared, String> {
    Ok(Prepared {
        arguments: bridge::to_js_text(&Bson::Array(args), "arguments")
            .map_err(|e| e.to_string())?,
        info: context_info(ctx)?,
    })
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

/// Starts a call of `source` on `engine`, naming a failure to start as the call tree says.
fn start(
    engine: Engine,
    source: &JsSource,
    prepared: &Prepared,
    tree: &CallTree,
) -> Result<Call, String> {
    Call::start(
        engine,
        &source.source,
        &source_file(&source.name),
        &format!("function {}", source.name),
        &prepared.info,
        &prepared.arguments,
    )
    .map_err(|e| {
        if tree.stopped() {
            stop_message(tree, &e)
        } else {
            e
        }
    })
}

/// The outcome of a finished call, as the call tree explains it.
fn finished(call: Call, tree: &CallTree, outcome: Result<Bson, String>) -> Result<Bson, String> {
    let mut call = call;
    let stopped = tree.stopped();
    if stopped {
        call.taint();
    }
    call.finish();
    match outcome {
        Err(_) if stopped => Err(stop_message(tree, "the function")),
        other => other,
    }
}

/// Runs a call on this thread if it needs nothing but [`INLINE_SLICE`] of computing; when it
/// needs more (the host, a waiting timer, more time), says which, having let nothing out.
fn run_inline<S: Store + Clone + 'static>(
    source: &JsSource,
    ctx: &Context<S>,
    prepared: &Prepared,
) -> Inline {
    let tree = ctx.tree();
    let engine = match Engine::checkout(tree, source.memory_limit) {
        Ok(engine) => engine,
        Err(e) => return Inline::Done(Err(e)),
    };
    // The slice starts once the context is ready (a new one takes longer than a slice to make).
    let slice_end = Instant::now() + INLINE_SLICE;
    engine.stop_at(tree, Some(slice_end));
    let out_of_slice = || Instant::now() >= slice_end && !tree.stopped();
    let mut call = match start(engine, source, prepared, tree) {
        Ok(call) => call,
        Err(_) if out_of_slice() => return Inline::OutOfSlice,
        Err(e) => return Inline::Done(Err(e)),
    };
    loop {
        match call.advance(tree) {
            // Stopped at the end of the slice (a result that was reached stands).
            Step::Finished(Err(_)) if out_of_slice() => break,
            Step::Finished(outcome) => {
                for line in call.take_logs() {
                    log(ctx, line);
                }
                return Inline::Done(finished(call, tree, outcome));
            }
            Step::Timer(0) => {
                if call.fire_timer().is_err() && out_of_slice() {
                    break;
                }
            }
            Step::Host(_) | Step::Timer(_) => {
                call.finish();
                return Inline::NeedsHost;
            }
        }
    }
    call.taint();
    call.finish();
    Inline::OutOfSlice
}

/// Runs one call to completion on the current (blocking) thread.
fn run<S: Store + Clone + 'static>(
    source: &JsSource,
    ctx: Context<S>,
    prepared: &Prepared,
    handle: tokio::runtime::Handle,
) -> Result<Bson, String> {
    let tree = ctx.tree().clone();
    let engine = Engine::checkout(&tree, source.memory_limit)?;
    let mut call = start(engine, source, prepared, &tree)?;
    loop {
        let step = call.advance(&tree);
        for line in call.take_logs() {
            log(&ctx, line);
        }
        if tree.stopped() {
            call.taint();
            call.finish();
            return Err(stop_message(&tree, "the function"));
        }
        match step {
            Step::Finished(outcome) => return finished(call, &tree, outcome),
            Step::Host(pending) => {
                let answers: Vec<(u32, Result<Bson, String>)> = pending
                    .into_iter()
                    .map(|(id, body)| (id, perform_blocking(&handle, &ctx, &tree, &body)))
                    .collect();
                if let Err(e) = call.deliver(answers) {
                    return finished(call, &tree, Err(e));
                }
            }
            Step::Timer(ms) => {
                if let Err(e) = wait(&tree, Duration::from_millis(ms)) {
                    call.taint();
                    call.finish();
                    return Err(e);
                }
                if let Err(e) = call.fire_timer() {
                    return finished(call, &tree, Err(e));
                }
            }
        }
    }
}

/// Sleeps `delay` unless the call tree stops first.
fn wait(tree: &CallTree, delay: Duration) -> Result<(), String> {
    let until = Instant::now() + delay;
    loop {
        if tree.stopped() {
            return Err(stop_message(tree, "the function"));
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(STOP_POLL));
    }
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

fn log<S: Store + Clone + 'static>(ctx: &Context<S>, line: String) {
    tracing::info!(target: "expanse::functions::log", caller = %ctx.user().id, "{line}");
    ctx.log(line);
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
        "endpoint": ctx.endpoint_slot().is_some(),
    };
    bridge::to_js_text(&Bson::Document(info), "context").map_err(|e| e.to_string())
}
