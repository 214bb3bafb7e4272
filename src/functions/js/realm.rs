//! A QuickJS context made once and hardened, serving one call after another: the host functions,
//! the prelude and all its parts (from bytecode), then `harden.js`, which freezes every object
//! the global object reaches and fixes the global object's own properties.
//!
//! What a call could leave behind, and why the next call cannot see it:
//! - changes to built-ins, prototypes, `BSON`, `utils`, `console`…: everything reachable from
//!   the global object is frozen before the first call (an assignment fails, in strict mode
//!   with a `TypeError`);
//! - globals it created: deleted when it ends (`__end`); a global that cannot be deleted, a
//!   global object made non-extensible or given another prototype, or `eval` touched (an
//!   indirect eval can declare global `let` bindings nothing deletes) — the context is dropped;
//! - its source's top-level state: the source runs inside a wrapper function each call
//!   ([`script`](super::script)), so its `let`, `const`, `var` and functions are new each time;
//! - its `context`, timers and pending host calls: dropped by `__end`; a promise reaction still
//!   queued, a call that was stopped (time, cancellation, slice) or ran out of memory — the
//!   context and its runtime are dropped (see [`engine`](super::engine)).
//!
//! The compiled wrapper of each function source is kept with the context (it holds no state:
//! each call runs it afresh).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use rquickjs::context::intrinsic;
use rquickjs::{Context as JsContext, Ctx, Function as JsFunction, Module, Persistent, Runtime};

use super::call::describe_exception;
use super::compiled::{self, PRELUDE_MODULE};
use super::native;
use super::script;
use crate::limits::{MAX_DEPTH, MAX_DOCUMENT_SIZE};

/// What a context is built with besides the base objects (`Object`, `Function`, `Array`, the
/// errors, `Symbol`, `Reflect`, `BigInt`, `Math`…): the standard library App Services functions
/// use. Left out, as App Services never had them: `Proxy`, `WeakRef` and
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

/// The most compiled function sources a context keeps (past this, it forgets them all).
const MAX_WRAPPERS: usize = 512;

/// What the script hands the host while a call runs.
#[derive(Default)]
pub struct Shared {
    /// Host calls: `(id, request)`.
    pub requests: RefCell<Vec<(u32, String)>>,
    /// The result (`Ok`, in the bridge's encoding) or the error message: the first one given.
    pub outcome: RefCell<Option<Result<String, String>>>,
    /// `console.log` lines.
    pub logs: RefCell<Vec<String>>,
}

impl Shared {
    /// Forgets what an earlier call handed over.
    fn clear(&self) {
        self.requests.borrow_mut().clear();
        self.outcome.borrow_mut().take();
        self.logs.borrow_mut().clear();
    }
}

/// A function source's compiled wrapper, and the source it was compiled from.
struct Wrapper {
    source: Arc<str>,
    function: Persistent<JsFunction<'static>>,
}

/// A hardened context and what it keeps between calls.
pub struct Realm {
    // Dropped before the context (field order).
    wrappers: RefCell<HashMap<String, Wrapper>>,
    shared: Rc<Shared>,
    context: JsContext,
}

impl Realm {
    /// Makes and hardens a context in `runtime`.
    pub fn new(runtime: &Runtime) -> Result<Realm, String> {
        let context = JsContext::custom::<Intrinsics>(runtime)
            .map_err(|e| format!("cannot start QuickJS: {e}"))?;
        let shared = Rc::new(Shared::default());
        context.with(|js| {
            install_host(&js, &shared)?;
            Module::import(&js, PRELUDE_MODULE)
                .and_then(|loading| loading.finish::<rquickjs::Value>())
                .map_err(|_| describe_exception(&js.catch(), "the prelude"))?;
            let warm: JsFunction = js.globals().get("__warm").map_err(|e| e.to_string())?;
            warm.call::<_, ()>(())
                .map_err(|_| describe_exception(&js.catch(), "hardening the prelude"))
        })?;
        Ok(Realm {
            wrappers: RefCell::new(HashMap::new()),
            shared,
            context,
        })
    }

    /// The context.
    pub fn context(&self) -> &JsContext {
        &self.context
    }

    /// What the script hands the host, emptied for a new call.
    pub fn begin(&self) -> Rc<Shared> {
        self.shared.clear();
        self.shared.clone()
    }

    /// The wrapper of `source` (named `file`), compiled the first time. An error is pending in
    /// `js`.
    pub fn wrapper<'js>(
        &self,
        js: &Ctx<'js>,
        file: &str,
        source: &Arc<str>,
    ) -> rquickjs::Result<JsFunction<'js>> {
        if let Some(kept) = self.wrappers.borrow().get(file) {
            if Arc::ptr_eq(&kept.source, source) || *kept.source == **source {
                return kept.function.clone().restore(js);
            }
        }
        let function = script::compile(js, source, file)?;
        let mut wrappers = self.wrappers.borrow_mut();
        if wrappers.len() >= MAX_WRAPPERS {
            wrappers.clear();
        }
        wrappers.insert(
            file.to_owned(),
            Wrapper {
                source: source.clone(),
                function: Persistent::save(js, function.clone()),
            },
        );
        Ok(function)
    }

    /// Ends a call (see the module's documentation): whether the context can serve another.
    pub fn end(&self) -> bool {
        self.context.with(|js| {
            js.globals()
                .get::<_, JsFunction>("__end")
                .and_then(|end| end.call::<_, bool>(()))
                .unwrap_or(false)
        })
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
