//! App Services rule expressions: compile once, evaluate many times.
//!
//! ```
//! use bson::doc;
//! use expanse::expr::{Bindings, ExprKind, Expression};
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
//! assert!(rule.evaluate(&Bindings::new().user(&alice).root(&note).values(&values)));
//! assert!(!rule.evaluate(&Bindings::new().user(&bob).root(&note).values(&values)));
//! ```

mod ast;
mod bindings;
mod compile;
mod convert;
mod error;
mod eval;
mod expansion;
mod explain;
mod footprint;
mod function;
mod kind;
mod known;
mod operators;
mod pushdown;
mod query_template;

pub use bindings::{Bindings, BindingsData};
pub use error::CompileError;
pub use expansion::{parse_expansion, Base, Expansion, ExpansionProblem};
pub use explain::{Explanation, TraceLine};
pub use footprint::Footprint;
pub use function::{FunctionCaller, LaterResult};
pub use kind::ExprKind;
pub use known::KnownFields;
pub use pushdown::{PushDown, PushedFilter};
pub use query_template::QueryTemplate;

use crate::json::{self, Json};
use crate::Location;

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
    pub fn evaluate(&self, ctx: &Bindings<'_>) -> bool {
        eval::eval_fast(&self.root, ctx)
    }

    /// Evaluates and records every sub-expression with the values it saw.
    pub fn explain(&self, ctx: &Bindings<'_>) -> Explanation {
        let mut lines = Vec::new();
        let result = eval::eval_traced(&self.root, ctx, &mut lines, 0);
        Explanation { result, lines }
    }

    /// A MongoDB filter for the documents this expression holds for on a read, given everything
    /// but the document (`ctx`'s root and prevRoot are ignored; on a read `%%prevRoot` is the
    /// document itself). Values are always placed where MongoDB reads them as literals.
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::expr::{Bindings, ExprKind, Expression};
    /// let rule = Expression::parse(r#"{"owner_id": "%%user.id"}"#, "r.json", ExprKind::RolePermission).unwrap();
    /// let user = doc! {"id": {"$ne": null}};
    /// let pushed = rule.push_down(&Bindings::new().user(&user));
    /// assert!(pushed.exact);
    /// assert_eq!(pushed.filter.to_document(), doc! {"owner_id": {"$eq": {"$ne": null}}});
    /// ```
    pub fn push_down(&self, ctx: &Bindings<'_>) -> PushDown {
        pushdown::push_down(&self.root, &ctx.without_document(), None)
    }

    /// A MongoDB filter on the stored document for whether this expression holds on a write's
    /// post-image, when the write sets or removes the `known` top-level fields and leaves the
    /// others as stored: `%%root.<known field>…` is decided in process on the known values,
    /// every other `%%root` path and `%%prevRoot` read the stored document. Exact only when
    /// every part is (a known field compared with another document value is not).
    ///
    /// ```
    /// use bson::{doc, Bson};
    /// use expanse::expr::{Bindings, ExprKind, Expression, KnownFields, PushedFilter};
    /// let rule = Expression::parse(r#"{"n": {"$gte": 0}, "locked": false}"#, "r.json", ExprKind::RolePermission).unwrap();
    /// let mut known = KnownFields::default();
    /// known.set("n", Bson::Int32(5));
    /// let pushed = rule.push_down_written(&Bindings::new(), &known);
    /// assert!(pushed.exact);
    /// assert_eq!(pushed.filter.to_document(), doc! {"locked": {"$eq": false}});
    /// known.set("n", Bson::Int32(-1));
    /// assert_eq!(rule.push_down_written(&Bindings::new(), &known).filter, PushedFilter::Nothing);
    /// ```
    pub fn push_down_written(&self, ctx: &Bindings<'_>, known: &KnownFields) -> PushDown {
        pushdown::push_down(&self.root, &ctx.without_document(), Some(known))
    }

    /// Whether the expression reads the document (`%%root`, plain fields, `%%prevRoot`, `%%this`,
    /// `%%prev`); one that does not can be decided once per request.
    pub fn reads_document(&self) -> bool {
        self.root.reads_document()
    }

    /// Whether the expression reads a field's own value (`%%this`, `%%prev`): a field rule
    /// that does is decided per field, and never pushed down.
    ///
    /// ```
    /// use expanse::expr::{ExprKind, Expression};
    /// let rule = Expression::parse(r#"{"%%this": {"$type": "string"}}"#, "r.json", ExprKind::FieldPermission).unwrap();
    /// assert!(rule.reads_field_value());
    /// ```
    pub fn reads_field_value(&self) -> bool {
        self.root.reads_field_value()
    }

    /// Whether the expression reads `%%prevRoot` (the document before a write).
    ///
    /// ```
    /// use expanse::expr::{ExprKind, Expression};
    /// let rule = Expression::parse(r#"{"%%prevRoot.owner": "%%user.id"}"#, "r.json", ExprKind::RolePermission).unwrap();
    /// assert!(rule.reads_prev_root());
    /// ```
    pub fn reads_prev_root(&self) -> bool {
        self.root.reads_prev_root()
    }

    /// Whether the expression is always true (`{}` or `true`).
    pub fn is_always_true(&self) -> bool {
        matches!(self.root, ast::Node::Const(true))
    }

    /// Whether the expression calls `%function`.
    pub fn calls_functions(&self) -> bool {
        self.root.calls_functions()
    }

    /// The top-level document fields (`%%root.<field>` or plain keys) the expression reads.
    pub fn document_fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.root.document_fields(&mut out);
        out.sort();
        out.dedup();
        out
    }

    /// Adds the document fields the expression reads, through `%%root`, `%%prevRoot` or plain
    /// keys, to `footprint`; a whole-document comparison or a `%function` call (which may be
    /// given anything) adds the whole document.
    pub fn add_footprint(&self, footprint: &mut Footprint) {
        self.root.add_footprint(footprint);
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

/// A JSON value with `%%` expansions and value operators inside, resolved per request (a
/// filter's `query`, function arguments). `$`-prefixed keys are kept as written, so a MongoDB
/// query can be a template.
///
/// ```
/// use bson::{bson, doc};
/// use expanse::expr::{Bindings, ExprKind, ValueTemplate};
/// let json = expanse::json::parse(r#"{"owner_id": {"$eq": "%%user.id"}}"#, "filter.json").unwrap();
/// let template = ValueTemplate::compile(&json, ExprKind::FilterApplyWhen).unwrap();
/// let user = doc! {"id": "u1"};
/// let value = template.resolve(&Bindings::new().user(&user)).unwrap();
/// assert_eq!(value, Some(bson!({"owner_id": {"$eq": "u1"}})));
/// ```
#[derive(Debug, Clone)]
pub struct ValueTemplate {
    operand: ast::Operand,
}

impl ValueTemplate {
    /// Compiles a value; expansions are checked against `kind`.
    pub fn compile(json: &Json, kind: ExprKind) -> Result<ValueTemplate, CompileError> {
        let mut compiler = compile::Compiler::new(kind);
        compiler.literal_documents = true;
        let operand = compiler.operand(json);
        match operand {
            Some(operand) if compiler.diagnostics.is_empty() => Ok(ValueTemplate { operand }),
            _ => Err(CompileError {
                diagnostics: compiler.diagnostics,
            }),
        }
    }

    /// The value in this context; `Ok(None)` when a top-level expansion is missing. Missing
    /// expansions inside documents drop their field, inside arrays become `null`.
    pub fn resolve(&self, ctx: &Bindings<'_>) -> Result<Option<bson::Bson>, String> {
        eval::resolve(&self.operand, ctx).map(|v| v.map(|v| v.into_owned()))
    }

    /// Whether the template holds no expansion or operator (it is a constant).
    pub fn is_constant(&self) -> bool {
        self.operand.is_literal()
    }

    /// Every expansion the template uses.
    pub fn expansions(&self) -> Vec<Expansion> {
        let mut out = Vec::new();
        self.operand.collect_expansions(&mut out);
        out
    }
}
