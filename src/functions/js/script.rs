//! A function's source (`exports = function …`), compiled as the body of a wrapper function
//! `(exports) => { SOURCE; return exports; }`, so that what its top level declares (`let`,
//! `const`, `var`, functions) lives in one run of the wrapper and never in the context's global
//! scope — a context then serves call after call ([`realm`](super::realm)).
//!
//! The wrapper's two lines of its own are numbered -1 and 0 (QuickJS's `JS_Eval2` takes the
//! first line's number; 0 would mean "the default, 1"), so the source keeps its own lines and
//! columns in errors and stacks: `functions/<name>.js:3:9` is line 3, column 9 of the file the
//! app wrote. Before it is wrapped the source is compiled on
//! its own as a script (never run): a source that is not a whole script — one that closes the
//! wrapper early to run code at the top level, or uses `return` there — is refused with the
//! error QuickJS gives for it.
//!
//! The only unsafe code here is the call to `JS_Eval2`, which `rquickjs` does not wrap.

use std::ffi::CString;

use rquickjs::qjs;
use rquickjs::{Ctx, Function, Value};

/// The line the wrapper's own first line takes: the source starts two lines after, on line 1.
const WRAPPER_LINE: i32 = -1;

/// Compiles `source` (named `file` in errors and stacks) into its wrapper in the context of
/// `js`: calling the wrapper runs the source's top level and returns what it left in
/// `exports`. An error is QuickJS's exception, pending in `js` (take it with `js.catch()`).
pub fn compile<'js>(js: &Ctx<'js>, source: &str, file: &str) -> rquickjs::Result<Function<'js>> {
    // On its own first: a whole script, compiled and dropped.
    eval(js, source, file, 1, qjs::JS_EVAL_FLAG_COMPILE_ONLY)?;
    let wrapped = format!("((exports) =>\n{{\n{source}\n;return exports;\n}})");
    let wrapper = eval(js, &wrapped, file, WRAPPER_LINE, 0)?;
    wrapper
        .into_function()
        .ok_or_else(|| rquickjs::Error::new_from_js("value", "function"))
}

/// Evaluates `text` as a strict global script whose first line is `line`.
fn eval<'js>(
    js: &Ctx<'js>,
    text: &str,
    file: &str,
    line: i32,
    flags: u32,
) -> rquickjs::Result<Value<'js>> {
    let length = text.len();
    let text = CString::new(text)?;
    let file = CString::new(file)?;
    let mut options = qjs::JSEvalOptions {
        version: qjs::JS_EVAL_OPTIONS_VERSION as _,
        eval_flags: (qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_STRICT | flags) as _,
        filename: file.as_ptr(),
        line_num: line,
    };
    // SAFETY: the context pointer is the live context `js` borrows; `text` is NUL-terminated
    // and `length` bytes long without the NUL; `options` and the file name it points to outlive
    // the call, which reads them and keeps neither. The returned value is owned (one reference),
    // and `Value::from_raw` takes that reference over.
    let value = unsafe {
        let raw = qjs::JS_Eval2(
            js.as_raw().as_ptr(),
            text.as_ptr(),
            length as _,
            &mut options,
        );
        Value::from_raw(js.clone(), raw)
    };
    if value.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    Ok(value)
}
