//! The prelude, its parts and the hardening step, compiled once per process to QuickJS
//! bytecode, and loaded into each new context from that bytecode (see [`realm`](super::realm)).
//!
//! They are modules served by rquickjs's [`Bundle`] loader: the bytecode is what `Module::write`
//! produced in this process from the sources built into the binary, kept for the life of the
//! process, and never read from anywhere else.
//! - `expanse:prelude` is imported when a call starts; it puts what functions, the parts loaded
//!   and the host use on the global object itself.
//! - `expanse:extras` (the BSON types other than ObjectId, and EJSON), `expanse:node`
//!   (`utils`, `Buffer`, `crypto`, timers…), `expanse:services` (host calls: the database,
//!   `context.functions.execute`) and `expanse:harden` are imported by the prelude's `__warm`
//!   when the context is made, before any function's code: a module with no top-level `await`
//!   is evaluated at once, and its body leaves what it defines in a global slot
//!   ([`EXTRAS_SLOT`], [`NODE_SLOT`], [`SERVICES_SLOT`], [`HARDEN_SLOT`]) that the prelude takes
//!   and deletes.

use std::sync::OnceLock;

use rquickjs::loader::Bundle;
use rquickjs::module::WriteOptions;
use rquickjs::{Context, Ctx, Module, Runtime};

use super::{HARDEN, PRELUDE, PRELUDE_EXTRAS, PRELUDE_NODE, PRELUDE_SERVICES};

/// The prelude's module name (also what `import()` would have to name to reach it again, which
/// gives back the same, already evaluated module).
pub const PRELUDE_MODULE: &str = "expanse:prelude";

/// The module of the BSON types other than ObjectId, and EJSON.
pub const EXTRAS_MODULE: &str = "expanse:extras";

/// The module of `utils`, `Buffer`, `TextEncoder`/`TextDecoder`, `crypto` and the timers.
pub const NODE_MODULE: &str = "expanse:node";

/// The module of host calls (the database, `context.functions.execute`).
pub const SERVICES_MODULE: &str = "expanse:services";

/// The module that hardens a context once everything else is loaded (harden.js).
pub const HARDEN_MODULE: &str = "expanse:harden";

/// The global `expanse:harden` leaves its function in (the prelude deletes it at once).
const HARDEN_SLOT: &str = "__lazyHarden";

/// The global `expanse:services` leaves its function in (the prelude deletes it at once).
const SERVICES_SLOT: &str = "__lazyServices";

/// The global `expanse:extras` leaves its object in (the prelude deletes it at once).
const EXTRAS_SLOT: &str = "__lazyExtras";

/// The global `expanse:node` leaves its object in (the prelude deletes it at once).
const NODE_SLOT: &str = "__lazyNode";

/// The bundle of compiled modules a runtime loads from.
pub type Compiled = Bundle;

static COMPILED: OnceLock<Result<Compiled, String>> = OnceLock::new();

/// The compiled modules (compiled on first use).
pub fn compiled() -> Result<Compiled, String> {
    COMPILED.get_or_init(compile).clone()
}

/// Imports one of the prelude's parts into the context of `js`: evaluated at once,
/// it leaves its object in its global slot. Any other name is refused.
pub fn import_lazy(js: &Ctx<'_>, name: &str) -> rquickjs::Result<()> {
    if ![EXTRAS_MODULE, NODE_MODULE, SERVICES_MODULE, HARDEN_MODULE].contains(&name) {
        return Err(rquickjs::Error::new_loading(name));
    }
    // The promise settles in a job of this call; what the prelude needs is the slot.
    Module::import(js, name).map(|_| ())
}

/// The source of one of the prelude's parts: the part's expression, left in `slot`.
fn lazy_source(slot: &str, expression: &str) -> String {
    format!("globalThis.{slot} = {expression};\n")
}

fn compile() -> Result<Compiled, String> {
    let failed = |e: rquickjs::Error| format!("cannot compile the JavaScript prelude: {e}");
    let runtime = Runtime::new().map_err(failed)?;
    let context = Context::full(&runtime).map_err(failed)?;
    let sources = [
        (PRELUDE_MODULE, PRELUDE.to_owned()),
        (EXTRAS_MODULE, lazy_source(EXTRAS_SLOT, PRELUDE_EXTRAS)),
        (NODE_MODULE, lazy_source(NODE_SLOT, PRELUDE_NODE)),
        (
            SERVICES_MODULE,
            lazy_source(SERVICES_SLOT, PRELUDE_SERVICES),
        ),
        (HARDEN_MODULE, lazy_source(HARDEN_SLOT, HARDEN)),
    ];
    let mut modules = Vec::with_capacity(sources.len());
    for (name, source) in sources {
        let bytes = context.with(|js| {
            let module = Module::declare(js.clone(), name, source)?;
            // Line tables are not needed: errors are reported at the function's own source.
            let options = WriteOptions {
                strip_source: true,
                strip_debug: true,
                ..WriteOptions::default()
            };
            module.write(options)
        });
        let bytes: &'static [u8] = Box::leak(bytes.map_err(failed)?.into_boxed_slice());
        modules.push((name, bytes));
    }
    let modules: &'static [(&'static str, &'static [u8])] = Box::leak(modules.into_boxed_slice());
    Ok(rquickjs::loader::bundle::Bundle(modules))
}
