//! One JavaScript call in a fresh context of a pooled runtime: the host functions the prelude
//! uses, the prelude (from bytecode) and the function's source loaded, and the steps of the call (run the
//! script's jobs, then wait for the host, a timer, or nothing).

use std::cell::RefCell;
use std::rc::Rc;

use bson::Bson;
use rquickjs::context::intrinsic;
use rquickjs::{Context as JsContext, Ctx, Function as JsFunction, Module};

use super::compiled::{self, PRELUDE_MODULE};
use super::engine::Engine;
use super::{bridge, native};
use crate::functions::CallTree;
use crate::limits::{MAX_DEPTH, MAX_DOCUMENT_SIZE};

/// What a call's context is built with besides the base objects (`Object`, `Function`, `Array`,
/// the errors, `Symbol`, `Reflect`, `BigInt`, `Math`…): the standard library App Services
/// functions use. Left out, as App Services never had them: `Proxy`, `WeakRef` and
/// `FinalizationRegistry` (which would also let a closure outlive the code that made it),
/// `performance`, `atob`/`btoa`.
type Intrinsics = (
    intrinsic::Date,
    intrinsic::Eval,
    intrinsic::RegExpCompiler,
    intrinsic::RegExp,
    intrinsic::Json,
    intrinsic::MapSet,
    intrinsic::TypedArrays,
    intrinsic::Promise,
);

/// What the script hands the host while it runs.
#[derive(Default)]
pub struct Shared {
    /// Host calls: `(id, request)`.
    requests: RefCell<Vec<(u32, String)>>,
    /// The result (`Ok`, in the bridge's encoding) or the error message: the first one given.
    outcome: RefCell<Option<Result<String, String>>>,
    /// `console.log` lines.
    logs: RefCell<Vec<String>>,
}

/// Where a call stands after its pending jobs ran.
pub enum Step {
    /// The function's promise settled.
    Finished(Result<Bson, String>),
    /// It waits for these host calls (`(id, request)`).
    Host(Vec<(u32, String)>),
    /// It waits for a timer due in this many milliseconds.
    Timer(u64),
}

/// A call in progress.
pub struct Call {
    // Dropped before the engine goes back (field order).
    context: JsContext,
    engine: Engine,
    shared: Rc<Shared>,
    /// Whether the script was stopped or failed in a way that leaves the runtime suspect.
    tainted: bool,
}

impl Call {
    /// Starts `source` (named `file` in errors and stacks) in a fresh context of `engine`,
    /// with `context` built from `info` and the arguments `arguments` (both in the bridge's
    /// encoding).
    pub fn start(
        engine: Engine,
        source: &str,
        file: &str,
        what: &str,
        info: &str,
        arguments: &str,
    ) -> Result<Call, String> {
        let context = match JsContext::custom::<Intrinsics>(engine.runtime()) {
            Ok(context) => context,
            Err(e) => {
                engine.checkin(false);
                return Err(format!("cannot start QuickJS: {e}"));
            }
        };
        let mut call = Call {
            context,
            engine,
            shared: Rc::new(Shared::default()),
            tainted: false,
        };
        let started = call.context.with(|js| {
            install_host(&js, &call.shared)?;
            Module::import(&js, PRELUDE_MODULE)
                .and_then(|loading| loading.finish::<rquickjs::Value>())
                .map_err(|_| describe_exception(&js.catch(), "the prelude"))?;
            // Named as the app names it, so errors and stacks say functions/<name>.js:line:col.
            let mut options = rquickjs::context::EvalOptions::default();
            options.filename = Some(file.to_owned());
            js.eval_with_options::<(), _>(source, options)
                .map_err(|_| describe_exception(&js.catch(), what))?;
            let start: JsFunction = js.globals().get("__start").map_err(|e| e.to_string())?;
            start
                .call::<_, ()>((info, arguments))
                .map_err(|_| describe_exception(&js.catch(), "the call"))
        });
        match started {
            Ok(()) => Ok(call),
            Err(message) => {
                call.tainted = true;
                call.finish();
                Err(message)
            }
        }
    }

    /// Runs the script's pending jobs, and tells what the call waits for.
    pub fn advance(&mut self, tree: &CallTree) -> Step {
        let failure = self.run_jobs(tree);
        if let Some(outcome) = self.shared.outcome.borrow_mut().take() {
            return Step::Finished(match outcome {
                Ok(text) => bridge::from_js_text(&text, "result").map_err(|e| e.to_string()),
                Err(message) => Err(message),
            });
        }
        let pending: Vec<(u32, String)> = self.shared.requests.borrow_mut().drain(..).collect();
        if !pending.is_empty() {
            return Step::Host(pending);
        }
        if failure.is_none() {
            match self.call_hook::<_, f64>("__timerDue", ()) {
                Ok(due) if due >= 0.0 => return Step::Timer(due as u64),
                Ok(_) => {}
                Err(message) => return Step::Finished(Err(message)),
            }
        }
        Step::Finished(Err(
            failure.unwrap_or_else(|| "the function's promise never settled".into())
        ))
    }

    /// Runs the earliest due timer's callback.
    pub fn fire_timer(&mut self) -> Result<(), String> {
        self.call_hook::<_, ()>("__timerFire", ()).map(|_| ())
    }

    fn call_hook<A, R>(&mut self, name: &str, args: A) -> Result<R, String>
    where
        A: for<'js> rquickjs::function::IntoArgs<'js>,
        R: for<'js> rquickjs::FromJs<'js>,
    {
        let out = self.context.with(|js| {
            let hook: JsFunction = js.globals().get(name).map_err(|e| e.to_string())?;
            hook.call::<_, R>(args)
                .map_err(|_| describe_exception(&js.catch(), "the function"))
        });
        if out.is_err() {
            self.tainted = true;
        }
        out
    }

    /// Runs the script's pending jobs; the message of the first exception a job let escape.
    fn run_jobs(&mut self, tree: &CallTree) -> Option<String> {
        let mut failure = None;
        loop {
            match self.engine.runtime().execute_pending_job() {
                Ok(true) => {}
                Ok(false) => return failure,
                Err(exception) => {
                    self.tainted = true;
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
    pub fn deliver(&mut self, answers: Vec<(u32, Result<Bson, String>)>) -> Result<(), String> {
        let out = self.context.with(|js| {
            let resolve: JsFunction = js.globals().get("__resolve").map_err(|e| e.to_string())?;
            for (id, answer) in answers {
                let (ok, payload) = match answer.and_then(|value| {
                    bridge::to_js_text(&value, "answer").map_err(|e| e.to_string())
                }) {
                    Ok(text) => (true, text),
                    Err(message) => (false, message),
                };
                resolve
                    .call::<_, ()>((id, ok, payload))
                    .map_err(|_| describe_exception(&js.catch(), "resolving a host call"))?;
            }
            Ok(())
        });
        if out.is_err() {
            self.tainted = true;
        }
        out
    }

    /// The `console.log` lines written since the last take.
    pub fn take_logs(&self) -> Vec<String> {
        std::mem::take(&mut *self.shared.logs.borrow_mut())
    }

    /// Marks the runtime as not to be reused (the call was stopped).
    pub fn taint(&mut self) {
        self.tainted = true;
    }

    /// Ends the call: the context is dropped, and the runtime kept for the thread's next call
    /// if the call ended cleanly.
    pub fn finish(self) {
        let Call {
            context,
            engine,
            tainted,
            ..
        } = self;
        drop(context);
        engine.checkin(!tainted);
    }
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
fn install_host<'js>(js: &Ctx<'js>, shared: &Rc<Shared>) -> Result<(), String> {
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
            let mut outcome = o.outcome.borrow_mut();
            if outcome.is_none() {
                *outcome = Some(if ok { Ok(payload) } else { Err(payload) });
            }
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
        "__importLazy",
        JsFunction::new(js.clone(), |js: Ctx<'js>, name: String| {
            compiled::import_lazy(&js, &name)
        }),
    )?;
    install(
        &globals,
        "__native",
        JsFunction::new(
            js.clone(),
            |op: String, a: String, b: String, c: String, d: String| {
                native::call(&op, [&a, &b, &c, &d])
            },
        ),
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

/// An exception's message, where the function's source threw it (`functions/<name>.js:line:col`,
/// from QuickJS's stack), and the stack's frames in the function's own source.
pub fn describe_exception(value: &rquickjs::Value<'_>, what: &str) -> String {
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
