//! Syntax-checking a function source without running it, for `expanse check`.

use rquickjs::context::EvalOptions;
use rquickjs::{Context, Runtime};

use crate::Location;

/// A syntax error in a function source, where QuickJS found it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: JavaScript syntax error: {message}")]
pub struct SyntaxError {
    /// Where (the file as given, 1-based line and column).
    pub at: Location,
    /// QuickJS's message.
    pub message: String,
}

/// Compiles `source` as the body of a function that is never called (so nothing runs), and
/// reports the first syntax error with its location in `file`.
///
/// ```
/// use expanse::functions::js::syntax_error;
/// assert!(syntax_error("exports = function (a) { return a + 1; };", "functions/f.js").is_none());
/// let e = syntax_error("exports = function (a) {\n  return a +;\n};", "functions/f.js").unwrap();
/// assert_eq!(e.at.to_string(), "functions/f.js:2:13");
/// ```
pub fn syntax_error(source: &str, file: &str) -> Option<SyntaxError> {
    let runtime = Runtime::new().ok()?;
    runtime.set_memory_limit(64 * 1024 * 1024);
    let context = Context::full(&runtime).ok()?;
    // One line of wrapper: a reported line is one more than the source's.
    let wrapped = format!("(function () {{\n{source}\n}});");
    context.with(|js| {
        let mut options = EvalOptions::default();
        options.filename = Some(file.to_owned());
        if js.eval_with_options::<(), _>(wrapped, options).is_ok() {
            return None;
        }
        let caught = js.catch();
        let exception = caught.as_exception()?;
        let message = exception.message().unwrap_or_default();
        let (line, col) = exception
            .stack()
            .and_then(|stack| position_in(&stack, file))
            .unwrap_or((2, 1));
        Some(SyntaxError {
            at: Location::new(file, line.saturating_sub(1).max(1), col),
            message,
        })
    })
}

/// The first `file:line:col` in a QuickJS stack.
fn position_in(stack: &str, file: &str) -> Option<(usize, usize)> {
    let rest = &stack[stack.find(file)? + file.len()..];
    let mut numbers = rest.strip_prefix(':')?.split(|c: char| !c.is_ascii_digit());
    let line = numbers.next()?.parse().ok()?;
    let col = numbers.next()?.parse().ok()?;
    Some((line, col))
}
