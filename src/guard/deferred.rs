//! `%function` in rules, on any runtime: rules evaluate synchronously, but a function call is
//! asynchronous (it may read the database). A guarded collection therefore evaluates in rounds:
//! a call whose result is not known yet is deferred (the decision that needed it is discarded,
//! never acted on), the deferred calls run as futures, and the decisions are made again with
//! their results. Nothing blocks a thread, so this works on tokio's current-thread runtime as
//! on the multi-threaded one.

use std::collections::HashMap;
use std::sync::Mutex;

use bson::Bson;

use crate::expr::{Bindings, FunctionCaller};
use crate::functions::Thrown;

/// How many rounds one operation may take before it fails closed (each round can reveal calls
/// that an earlier false result had short-circuited).
pub(crate) const MAX_ROUNDS: usize = 16;

/// The function runtime as the rules of one guarded collection see it.
#[derive(Default)]
pub(crate) struct Deferred<'a> {
    inner: Option<&'a dyn FunctionCaller>,
    /// Results of calls made so far in this operation, by name and arguments.
    known: Mutex<HashMap<String, Result<Bson, Thrown>>>,
    /// Calls a decision asked for that have not run yet.
    pending: Mutex<Vec<(String, String, Vec<Bson>)>>,
}

/// A call's identity: its name and canonical arguments.
fn key(name: &str, args: &[Bson]) -> String {
    let args = Bson::Array(args.to_vec()).into_canonical_extjson();
    format!("{name}\u{0}{args}")
}

/// What a decision sees for a call that has not run yet: an error, which makes its member
/// false; the decision is discarded anyway.
const NOT_YET: &str = "the function has not run yet";

impl<'a> Deferred<'a> {
    /// Defers calls to `inner`.
    pub fn new(inner: &'a dyn FunctionCaller) -> Deferred<'a> {
        Deferred {
            inner: Some(inner),
            ..Deferred::default()
        }
    }

    /// Whether a function runtime is set.
    pub fn is_set(&self) -> bool {
        self.inner.is_some()
    }

    /// Forgets the results of an earlier operation (functions may read data that changed).
    pub fn forget(&self) {
        if let Ok(mut known) = self.known.lock() {
            known.clear();
        }
    }

    /// Runs the calls decisions asked for since the last settle. `Ok(true)`: the decisions
    /// made meanwhile must be made again; `Ok(false)`: they stand.
    pub async fn settle(&self) -> bool {
        let pending = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return false,
        };
        let Some(inner) = self.inner else {
            return false;
        };
        if pending.is_empty() {
            return false;
        }
        for (key, name, args) in pending {
            let result = match inner.call_later(&name, args.clone()) {
                Some(call) => call.await,
                None => inner.call(&name, args, &Bindings::new()),
            };
            if let Ok(mut known) = self.known.lock() {
                known.insert(key, result);
            }
        }
        true
    }
}

impl FunctionCaller for Deferred<'_> {
    fn call(&self, name: &str, args: Vec<Bson>, context: &Bindings<'_>) -> Result<Bson, Thrown> {
        let Some(inner) = self.inner else {
            return Err("no function runtime is set for these rules".into());
        };
        let key = key(name, &args);
        if let Some(result) = self.known.lock().ok().and_then(|k| k.get(&key).cloned()) {
            return result;
        }
        // A runtime with only the blocking form is called directly.
        if !inner.calls_later() {
            return inner.call(name, args, context);
        }
        if let Ok(mut pending) = self.pending.lock() {
            if !pending.iter().any(|(k, _, _)| *k == key) {
                pending.push((key, name.to_owned(), args));
            }
        }
        Err(NOT_YET.into())
    }
}
