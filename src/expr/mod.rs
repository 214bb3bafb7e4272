//! App Services rule expressions: compile once, evaluate many times.
//!
//! ```
//! use bson::doc;
//! use expanse::expr::{Context, ExprKind, Expression};
//!
//! let rule = Expression::parse(
//!     r#"{"%or": [{"owner_id": "%%user.id"}, {"%%user.id": {"$in": "%%values.admin_ids"}}]}"#,
//!     "rules.json",
//!     ExprKind::RolePermission,
//! )
//! .unwrap();
//! let values = doc! {"admin_ids": ["boss"]};
//! let note = doc! {"owner_id": "alice"};
//! let alice = doc! {"id": "alice"};
//! let bob = doc! {"id": "bob"};
//! assert!(rule.evaluate(&Context::new().user(&alice).root(&note).values(&values)));
//! assert!(!rule.evaluate(&Context::new().user(&bob).root(&note).values(&values)));
//! ```

mod ast;
mod compile;
mod context;
mod convert;
mod eval;
mod expansion;
mod explain;
mod function;
mod kind;
mod operators;
mod suggest;

use std::fmt;

pub use context::{Context, ContextData};
pub use expansion::{parse_expansion, Base, Expansion, ExpansionProblem};
pub use explain::{Explanation, TraceLine};
pub use function::FunctionCaller;
pub use kind::ExprKind;
pub use suggest::closest;

use crate::json::{self, Json};
use crate::Location;

/// One problem found while compiling, with where it is and a hint.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Where.
    pub at: Location,
    /// What is wrong.
    pub message: String,
    /// A suggestion (`did you mean %%user.id?`).
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

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
            diagnostics: vec![Diagnostic {
                at: e.at,
                message: e.message,
                hint: None,
            }],
        }
    }
}

/// A compiled rule expression.
#[derive(Debug, Clone)]
pub struct Expression {
    root: ast::Node,
    kind: ExprKind,
    extensions: Vec<(Location, String)>,
}

impl Expression {
    /// Compiles located JSON as an expression of the given kind.
    pub fn compile(json: &Json, kind: ExprKind) -> Result<Expression, CompileError> {
        let mut compiler = compile::Compiler::new(kind);
        let root = compiler.expression(json);
        if !compiler.diagnostics.is_empty() {
            compiler.diagnostics.sort_by_key(|d| (d.at.line, d.at.col));
            return Err(CompileError {
                diagnostics: compiler.diagnostics,
            });
        }
        Ok(Expression {
            root,
            kind,
            extensions: compiler.extensions,
        })
    }

    /// Parses and compiles JSON text; `file` names the source in diagnostics.
    ///
    /// ```
    /// use expanse::expr::{ExprKind, Expression};
    /// let err = Expression::parse(r#"{"owner": "%%usr.id"}"#, "rule.json", ExprKind::Any).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "rule.json:1:11: unknown expansion %%usr (did you mean %%user.id?)"
    /// );
    /// ```
    pub fn parse(text: &str, file: &str, kind: ExprKind) -> Result<Expression, CompileError> {
        let json = json::parse(text, file)?;
        Expression::compile(&json, kind)
    }

    /// Evaluates against a context. Never fails: runtime problems make the affected part false.
    pub fn evaluate(&self, ctx: &Context<'_>) -> bool {
        eval::eval_fast(&self.root, ctx)
    }

    /// Evaluates and records every sub-expression with the values it saw.
    pub fn explain(&self, ctx: &Context<'_>) -> Explanation {
        let mut lines = Vec::new();
        let result = eval::eval_traced(&self.root, ctx, &mut lines, 0);
        Explanation { result, lines }
    }

    /// The kind the expression was compiled as.
    pub fn kind(&self) -> ExprKind {
        self.kind
    }

    /// Operators used that App Services did not document for rule expressions (for `--strict`).
    pub fn extensions(&self) -> &[(Location, String)] {
        &self.extensions
    }
}
