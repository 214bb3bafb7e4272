//! Explanations: one line per sub-expression with the values it saw and its result.

use std::fmt;

use crate::Location;

/// One evaluated sub-expression.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceLine {
    /// Nesting depth (0 = top level).
    pub depth: usize,
    /// Where the sub-expression is written.
    pub at: Option<Location>,
    /// The sub-expression as written.
    pub source: String,
    /// What it evaluated to.
    pub result: bool,
    /// The values seen (subject, operands) and any error.
    pub detail: String,
}

impl TraceLine {
    pub(crate) fn new(
        depth: usize,
        at: Option<Location>,
        source: String,
        result: bool,
        detail: String,
    ) -> TraceLine {
        TraceLine {
            depth,
            at,
            source,
            result,
            detail,
        }
    }
}

/// The result of an expression and how it was reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The expression's value.
    pub result: bool,
    /// Sub-expressions in evaluation order.
    pub lines: Vec<TraceLine>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            let indent = "  ".repeat(line.depth);
            let at = line
                .at
                .as_ref()
                .map(|a| format!("{}:{}  ", a.line, a.col))
                .unwrap_or_default();
            write!(f, "{indent}{at}{} → {}", line.source, line.result)?;
            if !line.detail.is_empty() {
                write!(f, "   [{}]", line.detail)?;
            }
            writeln!(f)?;
        }
        write!(f, "result: {}", self.result)
    }
}
