//! The prelude compiled once per process to QuickJS bytecode, and loaded into each call's fresh
//! context from that bytecode (parsing and compiling the prelude was most of a call's cost).
//!
//! The prelude is a module (`expanse:prelude`) served by rquickjs's [`Bundle`] loader: the
//! bytecode is what `Module::write` produced in this process from the prelude built into the
//! binary, kept for the life of the process, and never read from anywhere else. The module puts
//! what functions, the lazily compiled parts and the host use on the global object itself.

use std::sync::OnceLock;

use rquickjs::loader::Bundle;
use rquickjs::module::WriteOptions;
use rquickjs::{Context, Module, Runtime};

use super::PRELUDE;

/// The prelude's module name (also what `import()` would have to name to reach it again, which
/// gives back the same, already evaluated module).
pub const PRELUDE_MODULE: &str = "expanse:prelude";

/// The bundle of compiled modules a runtime loads from.
pub type Compiled = Bundle;

static COMPILED: OnceLock<Result<Compiled, String>> = OnceLock::new();

/// The compiled prelude (compiled on first use).
pub fn compiled() -> Result<Compiled, String> {
    COMPILED.get_or_init(compile).clone()
}

fn compile() -> Result<Compiled, String> {
    let failed = |e: rquickjs::Error| format!("cannot compile the JavaScript prelude: {e}");
    let runtime = Runtime::new().map_err(failed)?;
    let context = Context::full(&runtime).map_err(failed)?;
    let bytes = context.with(|js| {
        let module = Module::declare(js.clone(), PRELUDE_MODULE, PRELUDE)?;
        // Line tables are not needed: errors are reported at the function's own source.
        let options = WriteOptions {
            strip_source: true,
            strip_debug: true,
            ..WriteOptions::default()
        };
        module.write(options)
    });
    let bytes: &'static [u8] = Box::leak(bytes.map_err(failed)?.into_boxed_slice());
    let modules: &'static [(&'static str, &'static [u8])] =
        Box::leak(vec![(PRELUDE_MODULE, bytes)].into_boxed_slice());
    Ok(rquickjs::loader::bundle::Bundle(modules))
}
