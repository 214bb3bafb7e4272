//! One JavaScript call in the hardened context of a pooled runtime ([`realm`](super::realm)):
//! the function's wrapper run for its `exports`, the prelude's `__start` called, and the steps
//! of the call (run the script's jobs, then wait for the host, a timer, or nothing).

use std::rc::Rc;
use std::sync::Arc;

use bson::Bson;
use rquickjs::{Function as JsFunction, Value};

use super::bridge;
use super::engine::Engine;
use super::realm::Shared;
use crate::functions::CallTree;

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
    engine: Engine,
    shared: Rc<Shared>,
    /// Whether the script was stopped or failed in a way that leaves the runtime suspect.
    tainted: bool,
}

impl Call {
    /// Starts `source` (named `file` in errors and stacks) in `engine`'s context, with
    /// `context` built from `info` and the arguments `arguments` (both in the bridge's
    /// encoding).
    pub fn start(
        engine: Engine,
        source: &Arc<str>,
        file: &str,
        what: &str,
        info: &str,
        arguments: &str,
    ) -> Result<Call, String> {
        let shared = engine.realm().begin();
        let mut call = Call {
            engine,
            shared,
            tainted: false,
        };
        let realm = call.engine.realm();
        let started = realm.context().with(|js| {
            // A source that does not compile changes nothing in the context.
            let wrapper = realm
                .wrapper(&js, file, source)
                .map_err(|_| (false, describe_exception(&js.catch(), what)))?;
            let main: Value = wrapper
                .call(())
                .map_err(|_| (true, describe_exception(&js.catch(), what)))?;
            let start: JsFunction = js
                .globals()
                .get("__start")
                .map_err(|e| (true, e.to_string()))?;
            start
                .call::<_, ()>((main, info, arguments))
                .map_err(|_| (true, describe_exception(&js.catch(), "the call")))
        });
        match started {
            Ok(()) => Ok(call),
            Err((taint, message)) => {
                call.tainted = taint;
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
        let out = self.engine.realm().context().with(|js| {
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
        let out = self.engine.realm().context().with(|js| {
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

    /// Ends the call: the runtime and its context kept for the thread's next call if the call
    /// ended cleanly.
    pub fn finish(self) {
        self.engine.checkin(!self.tainted);
    }
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
