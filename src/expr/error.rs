//! Why an expression did not compile: every problem, located.

use std::fmt;

use crate::diagnostic::Diagnostic;
use crate::json;

/// Every problem found in an expression (never empty).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct CompileError {
    /// The problems, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl From<json::JsonError> for CompileError {
    fn from(e: json::JsonError) -> CompileError {
        CompileError {
            diagnostics: vec![Diagnostic::from(e)],
        }
    }
}
