//! Aggregation expressions (`"$field"`, `{"$add": […]}`, `{"$cond": …}`, …) for the embedded
//! store: compiled once per stage, evaluated per document, with MongoDB's semantics for missing
//! values, field paths through arrays and the comparison order.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::{numbers, operators, unsupported};
use crate::query::compare_values;
use crate::store::StoreError;

/// What an expression produces: `None` is *missing* (a field that is not there, `$$REMOVE`),
/// which MongoDB keeps apart from `null`.
pub(crate) type Value = Option<Bson>;

/// A compiled aggregation expression.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    /// A constant (`{"$literal": …}` or a plain value).
    Literal(Bson),
    /// `"$a.b"`: a path below the current document.
    Path(Vec<String>),
    /// `"$$name.a.b"`: a variable (`ROOT`, `CURRENT`, `REMOVE` or one bound by `$let`, `$map`,
    /// `$filter`, `$reduce`) and a path below it.
    Variable(String, Vec<String>),
    /// `{"a": <expr>, …}`: a new document (a missing value leaves its field out).
    Object(Vec<(String, Expr)>),
    /// `[<expr>, …]`: a new array (a missing value becomes `null`).
    Array(Vec<Expr>),
    /// An operator applied to its evaluated arguments.
    Call(&'static str, Vec<Expr>),
    /// `$and` (stops at the first false argument).
    And(Vec<Expr>),
    /// `$or` (stops at the first true argument).
    Or(Vec<Expr>),
    /// `$cond`: if, then, else.
    Cond(Box<(Expr, Expr, Expr)>),
    /// `$ifNull`: the first argument neither null nor missing, else the last.
    IfNull(Vec<Expr>),
    /// `$switch`: the first branch whose case holds, else the default (an error without one).
    Switch(Vec<(Expr, Expr)>, Option<Box<Expr>>),
    /// `$let`.
    Let(Vec<(String, Expr)>, Box<Expr>),
    /// `$map`.
    Map {
        input: Box<Expr>,
        var: String,
        body: Box<Expr>,
    },
    /// `$filter`.
    Filter {
        input: Box<Expr>,
        var: String,
        cond: Box<Expr>,
        limit: Option<Box<Expr>>,
    },
    /// `$reduce` (`$$value`, `$$this`).
    Reduce {
        input: Box<Expr>,
        initial: Box<Expr>,
        body: Box<Expr>,
    },
    /// `$getField`: a field of a document by a name that may hold `.` or start with `$`.
    GetField(Box<Expr>, Box<Expr>),
}

/// What expressions see: the document (`$$ROOT`, `$$CURRENT`) and the bound variables.
pub(crate) struct Env<'d> {
    root: &'d Document,
    vars: Vec<(String, Value)>,
}

impl<'d> Env<'d> {
    /// The environment of one input document.
    pub fn new(root: &'d Document) -> Env<'d> {
        Env {
            root,
            vars: Vec::new(),
        }
    }

    fn bind(&mut self, name: &str, value: Value) {
        self.vars.push((name.to_owned(), value));
    }

    fn unbind(&mut self, count: usize) {
        let keep = self.vars.len().saturating_sub(count);
        self.vars.truncate(keep);
    }

    fn variable(&self, name: &str) -> Value {
        match name {
            "ROOT" | "CURRENT" => Some(Bson::Document(self.root.clone())),
            "REMOVE" => None,
            _ => self
                .vars
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| v.clone()),
        }
    }
}

/// An invalid expression, located at `at`.
fn invalid(at: &str, message: impl Into<String>) -> StoreError {
    super::invalid(at, message)
}

/// The value at `path` below `value`, as an aggregation field path reads it: through
/// documents, and through arrays element by element (documents give their value at the rest of
/// the path, nested arrays give an array, anything else is skipped).
pub(crate) fn value_at(value: &Bson, path: &[String]) -> Value {
    let Some((first, rest)) = path.split_first() else {
        return Some(value.clone());
    };
    match value {
        Bson::Document(d) => d.get(first).and_then(|v| value_at(v, rest)),
        Bson::Array(items) => Some(Bson::Array(array_at(items, path))),
        _ => None,
    }
}

fn array_at(items: &[Bson], path: &[String]) -> Vec<Bson> {
    items
        .iter()
        .filter_map(|item| match item {
            Bson::Document(_) => value_at(item, path),
            Bson::Array(inner) => Some(Bson::Array(array_at(inner, path))),
            _ => None,
        })
        .collect()
}

/// The value of `path` in a document (the first part read from the document itself).
pub(crate) fn document_value_at(doc: &Document, path: &[String]) -> Value {
    let (first, rest) = path.split_first()?;
    doc.get(first).and_then(|v| value_at(v, rest))
}

/// MongoDB's truthiness for expressions: `false`, `null`, missing, `undefined` and numeric
/// zero are false; everything else (empty strings and arrays too) is true.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        None | Some(Bson::Null) | Some(Bson::Undefined) | Some(Bson::Boolean(false)) => false,
        Some(Bson::Int32(0)) | Some(Bson::Int64(0)) => false,
        Some(Bson::Double(d)) => *d != 0.0,
        Some(Bson::Decimal128(d)) => crate::query::order::decimal_to_f64(d) != 0.0,
        Some(_) => true,
    }
}

/// Compares two expression values in MongoDB's order, missing below everything.
pub(crate) fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => compare_values(x, y),
    }
}

/// `{"$op": [a, b]}` or `{"$op": a}`: the argument list.
fn arguments(spec: &Bson) -> Vec<&Bson> {
    match spec {
        Bson::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// Operators taking a list of evaluated arguments, with how many they take (`None`: any).
const CALLS: &[(&str, Option<(usize, usize)>)] = &[
    ("$add", None),
    ("$multiply", None),
    ("$subtract", Some((2, 2))),
    ("$divide", Some((2, 2))),
    ("$mod", Some((2, 2))),
    ("$abs", Some((1, 1))),
    ("$ceil", Some((1, 1))),
    ("$floor", Some((1, 1))),
    ("$round", Some((1, 2))),
    ("$trunc", Some((1, 2))),
    ("$sum", None),
    ("$avg", None),
    ("$min", None),
    ("$max", None),
    ("$eq", Some((2, 2))),
    ("$ne", Some((2, 2))),
    ("$gt", Some((2, 2))),
    ("$gte", Some((2, 2))),
    ("$lt", Some((2, 2))),
    ("$lte", Some((2, 2))),
    ("$cmp", Some((2, 2))),
    ("$not", Some((1, 1))),
    ("$size", Some((1, 1))),
    ("$arrayElemAt", Some((2, 2))),
    ("$first", Some((1, 1))),
    ("$last", Some((1, 1))),
    ("$in", Some((2, 2))),
    ("$isArray", Some((1, 1))),
    ("$isNumber", Some((1, 1))),
    ("$type", Some((1, 1))),
    ("$concatArrays", None),
    ("$reverseArray", Some((1, 1))),
    ("$slice", Some((2, 3))),
    ("$objectToArray", Some((1, 1))),
    ("$arrayToObject", Some((1, 1))),
    ("$mergeObjects", None),
    ("$concat", None),
    ("$toLower", Some((1, 1))),
    ("$toUpper", Some((1, 1))),
    ("$strLenCP", Some((1, 1))),
    ("$substrCP", Some((3, 3))),
    ("$split", Some((2, 2))),
];

/// Compiles expressions, knowing which variables are bound where it stands.
pub(crate) struct Compiler {
    at: String,
    bound: Vec<String>,
}

impl Compiler {
    /// A compiler for expressions of the stage named `at` (for error messages).
    pub fn new(at: &str) -> Compiler {
        Compiler {
            at: at.to_owned(),
            bound: Vec::new(),
        }
    }

    /// Compiles one expression.
    pub fn compile(&mut self, spec: &Bson) -> Result<Expr, StoreError> {
        match spec {
            Bson::String(s) => self.string(s),
            Bson::Document(d) => self.document(d),
            Bson::Array(items) => Ok(Expr::Array(
                items
                    .iter()
                    .map(|i| self.compile(i))
                    .collect::<Result<_, _>>()?,
            )),
            other => Ok(Expr::Literal(other.clone())),
        }
    }

    fn string(&self, s: &str) -> Result<Expr, StoreError> {
        if let Some(var) = s.strip_prefix("$$") {
            let mut parts = var.split('.');
            let name = parts.next().unwrap_or_default().to_owned();
            let path: Vec<String> = parts.map(str::to_owned).collect();
            if path.iter().any(String::is_empty) {
                return Err(invalid(
                    &self.at,
                    "a field path must not hold an empty part",
                ));
            }
            match name.as_str() {
                "ROOT" | "CURRENT" | "REMOVE" => {}
                "NOW" | "CLUSTER_TIME" | "USER_ROLES" | "SEARCH_META" => {
                    return Err(unsupported(format!(
                        "the variable $${name} is not supported by the embedded store"
                    )))
                }
                _ if self.bound.contains(&name) => {}
                _ => {
                    return Err(invalid(
                        &self.at,
                        format!("use of undefined variable: {name}"),
                    ))
                }
            }
            return Ok(Expr::Variable(name, path));
        }
        if let Some(path) = s.strip_prefix('$') {
            let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
            if parts.iter().any(|p| p.is_empty() || p.starts_with('$')) {
                return Err(invalid(&self.at, "invalid field path"));
            }
            return Ok(Expr::Path(parts));
        }
        Ok(Expr::Literal(Bson::String(s.to_owned())))
    }

    fn document(&mut self, d: &Document) -> Result<Expr, StoreError> {
        let Some((first, _)) = d.iter().next() else {
            return Ok(Expr::Object(Vec::new()));
        };
        if !first.starts_with('$') {
            let mut fields = Vec::with_capacity(d.len());
            for (k, v) in d {
                if k.starts_with('$') || k.contains('.') || k.is_empty() {
                    return Err(invalid(
                        &self.at,
                        "a field name in an expression object must not start with '$' or hold '.'",
                    ));
                }
                fields.push((k.clone(), self.compile(v)?));
            }
            return Ok(Expr::Object(fields));
        }
        if d.len() != 1 {
            return Err(invalid(
                &self.at,
                "an expression specification must contain exactly one field",
            ));
        }
        let (op, spec) = (first.as_str(), &d[first]);
        self.operator(op, spec)
    }

    fn operator(&mut self, op: &str, spec: &Bson) -> Result<Expr, StoreError> {
        let at = self.at.clone();
        match op {
            "$literal" => Ok(Expr::Literal(spec.clone())),
            "$and" | "$or" => {
                let parts = self.list(spec)?;
                Ok(if op == "$and" {
                    Expr::And(parts)
                } else {
                    Expr::Or(parts)
                })
            }
            "$ifNull" => {
                let parts = self.list(spec)?;
                if parts.len() < 2 {
                    return Err(invalid(&at, "$ifNull needs at least two arguments"));
                }
                Ok(Expr::IfNull(parts))
            }
            "$cond" => self.cond(spec),
            "$switch" => self.switch(spec),
            "$let" => self.let_(spec),
            "$map" => self.map(spec),
            "$filter" => self.filter(spec),
            "$reduce" => self.reduce(spec),
            "$getField" => self.get_field(spec),
            _ => {
                let Some((name, arity)) = CALLS.iter().find(|(n, _)| *n == op) else {
                    return Err(unsupported(format!(
                        "the aggregation operator {op} is not supported by the embedded store"
                    )));
                };
                let args = self.list(spec)?;
                if let Some((low, high)) = arity {
                    if args.len() < *low || args.len() > *high {
                        return Err(invalid(
                            &at,
                            format!(
                                "expression {name} takes {} arguments, {} were passed in",
                                if low == high {
                                    format!("exactly {low}")
                                } else {
                                    format!("{low} to {high}")
                                },
                                args.len()
                            ),
                        ));
                    }
                }
                Ok(Expr::Call(name, args))
            }
        }
    }

    fn list(&mut self, spec: &Bson) -> Result<Vec<Expr>, StoreError> {
        arguments(spec)
            .into_iter()
            .map(|a| self.compile(a))
            .collect()
    }

    fn object<'s>(&self, spec: &'s Bson, op: &str) -> Result<&'s Document, StoreError> {
        match spec {
            Bson::Document(d) => Ok(d),
            _ => Err(invalid(&self.at, format!("{op} expects an object"))),
        }
    }

    fn only_keys(&self, d: &Document, op: &str, allowed: &[&str]) -> Result<(), StoreError> {
        match d.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(invalid(
                &self.at,
                format!("unrecognized parameter to {op}: {k}"),
            )),
            None => Ok(()),
        }
    }

    fn required(&mut self, d: &Document, key: &str, op: &str) -> Result<Expr, StoreError> {
        match d.get(key) {
            Some(v) => self.compile(v),
            None => Err(invalid(
                &self.at,
                format!("missing '{key}' parameter to {op}"),
            )),
        }
    }

    fn cond(&mut self, spec: &Bson) -> Result<Expr, StoreError> {
        let (c, t, e) = match spec {
            Bson::Document(d) => {
                self.only_keys(d, "$cond", &["if", "then", "else"])?;
                (
                    self.required(d, "if", "$cond")?,
                    self.required(d, "then", "$cond")?,
                    self.required(d, "else", "$cond")?,
                )
            }
            Bson::Array(items) if items.len() == 3 => (
                self.compile(&items[0])?,
                self.compile(&items[1])?,
                self.compile(&items[2])?,
            ),
            _ => return Err(invalid(&self.at, "$cond takes exactly 3 arguments")),
        };
        Ok(Expr::Cond(Box::new((c, t, e))))
    }

    fn switch(&mut self, spec: &Bson) -> Result<Expr, StoreError> {
        let d = self.object(spec, "$switch")?;
        self.only_keys(d, "$switch", &["branches", "default"])?;
        let Ok(branches) = d.get_array("branches") else {
            return Err(invalid(&self.at, "$switch expects an array for 'branches'"));
        };
        let mut compiled = Vec::with_capacity(branches.len());
        for branch in branches {
            let Bson::Document(b) = branch else {
                return Err(invalid(
                    &self.at,
                    "$switch expects each branch to be an object",
                ));
            };
            self.only_keys(b, "$switch", &["case", "then"])?;
            compiled.push((
                self.required(b, "case", "$switch")?,
                self.required(b, "then", "$switch")?,
            ));
        }
        if compiled.is_empty() {
            return Err(invalid(&self.at, "$switch requires at least one branch"));
        }
        let default = d
            .get("default")
            .map(|v| self.compile(v))
            .transpose()?
            .map(Box::new);
        Ok(Expr::Switch(compiled, default))
    }

    fn variable_name(&self, name: &str) -> Result<String, StoreError> {
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || !c.is_ascii())
            && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if valid {
            Ok(name.to_owned())
        } else {
            Err(invalid(
                &self.at,
                "a variable name must start with a lowercase letter",
            ))
        }
    }

    /// Compiles `body` with `names` bound.
    fn within(
        &mut self,
        names: &[&str],
        body: impl FnOnce(&mut Compiler) -> Result<Expr, StoreError>,
    ) -> Result<Expr, StoreError> {
        let before = self.bound.len();
        self.bound.extend(names.iter().map(|n| (*n).to_owned()));
        let compiled = body(self);
        self.bound.truncate(before);
        compiled
    }

    fn let_(&mut self, spec: &Bson) -> Result<Expr, StoreError> {
        let d = self.object(spec, "$let")?;
        self.only_keys(d, "$let", &["vars", "in"])?;
        let Ok(vars) = d.get_document("vars") else {
            return Err(invalid(&self.at, "$let expects an object for 'vars'"));
        };
        let mut bindings = Vec::with_capacity(vars.len());
        for (name, value) in vars {
            bindings.push((self.variable_name(name)?, self.compile(value)?));
        }
        let names: Vec<String> = bindings.iter().map(|(n, _)| n.clone()).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let body = self.within(&refs, |c| c.required(d, "in", "$let"))?;
        Ok(Expr::Let(bindings, Box::new(body)))
    }

    fn var_of(&self, d: &Document) -> Result<String, StoreError> {
        match d.get("as") {
            None => Ok("this".to_owned()),
            Some(Bson::String(s)) => self.variable_name(s),
            Some(_) => Err(invalid(&self.at, "'as' must be a variable name")),
        }
    }

    fn map(&mut self, spec: &Bson) -> Result<Expr, StoreError> {
        let d = self.object(spec, "$map")?;
        self.only_keys(d, "$map", &["input", "as", "in"])?;
        let input = self.required(d, "input", "$map")?;
        let var = self.var_of(d)?;
        let body = self.within(&[var.as_str()], |c| c.required(d, "in", "$map"))?;
        Ok(Expr::Map {
            input: Box::new(input),
            var,
            body: Box::new(body),
        })
    }

    fn filter(&mut self, spec: &Bson) -> Result<Expr, StoreError> {
        let d = self.object(spec, "$filter")?;
        self.only_keys(d, "$filter", &["input", "as", "cond", "limit"])?;
        let input = self.required(d, "input", "$filter")?;
        let var = self.var_of(d)?;
        let cond = self.within(&[var.as_str()], |c| c.required(d, "cond", "$filter"))?;
        let limit = d
            .get("limit")
            .map(|l| self.compile(l))
            .transpose()?
            .map(Box::new);
        Ok(Expr::Filter {
            input: Box::new(input),
            var,
            cond: Box::new(cond),
            limit,
        })
    }

    fn reduce(&mut self, spec: &Bson) -> Result<Expr, StoreError> {
        let d = self.object(spec, "$reduce")?;
        self.only_keys(d, "$reduce", &["input", "initialValue", "in"])?;
        let input = self.required(d, "input", "$reduce")?;
        let initial = self.required(d, "initialValue", "$reduce")?;
        let body = self.within(&["value", "this"], |c| c.required(d, "in", "$reduce"))?;
        Ok(Expr::Reduce {
            input: Box::new(input),
            initial: Box::new(initial),
            body: Box::new(body),
        })
    }

    fn get_field(&mut self, spec: &Bson) -> Result<Expr, StoreError> {
        let (field, input) = match spec {
            Bson::Document(d) if d.keys().any(|k| k == "field") => {
                self.only_keys(d, "$getField", &["field", "input"])?;
                let field = self.required(d, "field", "$getField")?;
                let input = match d.get("input") {
                    Some(i) => self.compile(i)?,
                    None => Expr::Variable("CURRENT".into(), Vec::new()),
                };
                (field, input)
            }
            other => (
                self.compile(other)?,
                Expr::Variable("CURRENT".into(), Vec::new()),
            ),
        };
        if !matches!(field, Expr::Literal(Bson::String(_))) {
            return Err(invalid(
                &self.at,
                "$getField requires 'field' to evaluate to a constant string",
            ));
        }
        Ok(Expr::GetField(Box::new(field), Box::new(input)))
    }
}

/// Compiles one expression of the stage `at`.
pub(crate) fn compile(spec: &Bson, at: &str) -> Result<Expr, StoreError> {
    Compiler::new(at).compile(spec)
}

impl Expr {
    /// Evaluates against a document and its bound variables.
    pub fn evaluate(&self, env: &mut Env<'_>) -> Result<Value, StoreError> {
        match self {
            Expr::Literal(v) => Ok(Some(v.clone())),
            Expr::Path(path) => Ok(document_value_at(env.root, path)),
            Expr::Variable(name, path) => Ok(match (env.variable(name), path.is_empty()) {
                (value, true) => value,
                (Some(value), false) => value_at(&value, path),
                (None, false) => None,
            }),
            Expr::Object(fields) => {
                let mut out = Document::new();
                for (k, e) in fields {
                    if let Some(v) = e.evaluate(env)? {
                        out.insert(k.clone(), v);
                    }
                }
                Ok(Some(Bson::Document(out)))
            }
            Expr::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for e in items {
                    out.push(e.evaluate(env)?.unwrap_or(Bson::Null));
                }
                Ok(Some(Bson::Array(out)))
            }
            Expr::And(parts) => {
                for p in parts {
                    if !truthy(&p.evaluate(env)?) {
                        return Ok(Some(Bson::Boolean(false)));
                    }
                }
                Ok(Some(Bson::Boolean(true)))
            }
            Expr::Or(parts) => {
                for p in parts {
                    if truthy(&p.evaluate(env)?) {
                        return Ok(Some(Bson::Boolean(true)));
                    }
                }
                Ok(Some(Bson::Boolean(false)))
            }
            Expr::Cond(parts) => {
                let (c, t, e) = parts.as_ref();
                if truthy(&c.evaluate(env)?) {
                    t.evaluate(env)
                } else {
                    e.evaluate(env)
                }
            }
            Expr::IfNull(parts) => {
                let (last, rest) = parts
                    .split_last()
                    .ok_or_else(|| invalid("$ifNull", "$ifNull needs at least two arguments"))?;
                for p in rest {
                    match p.evaluate(env)? {
                        None | Some(Bson::Null) | Some(Bson::Undefined) => {}
                        value => return Ok(value),
                    }
                }
                last.evaluate(env)
            }
            Expr::Switch(branches, default) => {
                for (case, then) in branches {
                    if truthy(&case.evaluate(env)?) {
                        return then.evaluate(env);
                    }
                }
                match default {
                    Some(d) => d.evaluate(env),
                    None => Err(invalid(
                        "$switch",
                        "$switch could not find a matching branch for an input, and no default was specified",
                    )),
                }
            }
            Expr::Let(bindings, body) => {
                let mut values = Vec::with_capacity(bindings.len());
                for (name, e) in bindings {
                    values.push((name, e.evaluate(env)?));
                }
                let count = values.len();
                for (name, value) in values {
                    env.bind(name, value);
                }
                let result = body.evaluate(env);
                env.unbind(count);
                result
            }
            Expr::Map { input, var, body } => {
                let Some(items) = array_input(input.evaluate(env)?, "$map")? else {
                    return Ok(Some(Bson::Null));
                };
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    env.bind(var, Some(item));
                    let value = body.evaluate(env);
                    env.unbind(1);
                    out.push(value?.unwrap_or(Bson::Null));
                }
                Ok(Some(Bson::Array(out)))
            }
            Expr::Filter {
                input,
                var,
                cond,
                limit,
            } => {
                let Some(items) = array_input(input.evaluate(env)?, "$filter")? else {
                    return Ok(Some(Bson::Null));
                };
                let limit = match limit {
                    None => usize::MAX,
                    Some(l) => match l.evaluate(env)? {
                        None | Some(Bson::Null) => usize::MAX,
                        Some(v) => match numbers::whole(&v) {
                            Some(n) if n > 0 => n as usize,
                            _ => {
                                return Err(invalid(
                                    "$filter",
                                    "$filter: limit must be a positive whole number",
                                ))
                            }
                        },
                    },
                };
                let mut out = Vec::new();
                for item in items {
                    if out.len() >= limit {
                        break;
                    }
                    env.bind(var, Some(item.clone()));
                    let keep = cond.evaluate(env);
                    env.unbind(1);
                    if truthy(&keep?) {
                        out.push(item);
                    }
                }
                Ok(Some(Bson::Array(out)))
            }
            Expr::Reduce {
                input,
                initial,
                body,
            } => {
                let Some(items) = array_input(input.evaluate(env)?, "$reduce")? else {
                    return Ok(Some(Bson::Null));
                };
                let mut acc = initial.evaluate(env)?;
                for item in items {
                    env.bind("value", acc);
                    env.bind("this", Some(item));
                    let next = body.evaluate(env);
                    env.unbind(2);
                    acc = next?;
                }
                Ok(acc)
            }
            Expr::GetField(field, input) => {
                let Some(Bson::String(name)) = field.evaluate(env)? else {
                    return Err(invalid(
                        "$getField",
                        "$getField requires 'field' to evaluate to a string",
                    ));
                };
                match input.evaluate(env)? {
                    Some(Bson::Document(d)) => Ok(d.get(&name).cloned()),
                    None | Some(Bson::Null) => Ok(None),
                    Some(other) => Err(invalid(
                        "$getField",
                        format!(
                            "$getField requires 'input' to evaluate to an object, got {}",
                            operators::type_name(&Some(other))
                        ),
                    )),
                }
            }
            Expr::Call(name, args) => {
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    values.push(a.evaluate(env)?);
                }
                call(name, values)
            }
        }
    }

    /// Evaluates against a document alone.
    pub fn evaluate_on(&self, doc: &Document) -> Result<Value, StoreError> {
        self.evaluate(&mut Env::new(doc))
    }
}

/// The array a `$map`, `$filter` or `$reduce` runs over; `None` for null or missing.
fn array_input(value: Value, op: &str) -> Result<Option<Vec<Bson>>, StoreError> {
    match value {
        None | Some(Bson::Null) | Some(Bson::Undefined) => Ok(None),
        Some(Bson::Array(items)) => Ok(Some(items)),
        other => Err(invalid(
            op,
            format!(
                "input to {op} must be an array, not {}",
                operators::type_name(&other)
            ),
        )),
    }
}

/// Applies an operator of [`CALLS`] to its evaluated arguments.
fn call(name: &str, args: Vec<Value>) -> Result<Value, StoreError> {
    let bool_of = |b: bool| Ok(Some(Bson::Boolean(b)));
    let a: Value = args.first().cloned().flatten();
    let b: Value = args.get(1).cloned().flatten();
    match name {
        "$eq" => bool_of(compare(&a, &b) == Ordering::Equal),
        "$ne" => bool_of(compare(&a, &b) != Ordering::Equal),
        "$gt" => bool_of(compare(&a, &b) == Ordering::Greater),
        "$gte" => bool_of(compare(&a, &b) != Ordering::Less),
        "$lt" => bool_of(compare(&a, &b) == Ordering::Less),
        "$lte" => bool_of(compare(&a, &b) != Ordering::Greater),
        "$cmp" => Ok(Some(Bson::Int32(match compare(&a, &b) {
            Ordering::Less => -1,
            Ordering::Equal => 0,
            Ordering::Greater => 1,
        }))),
        "$not" => bool_of(!truthy(&a)),
        "$add" | "$multiply" | "$subtract" | "$divide" | "$mod" | "$abs" | "$ceil" | "$floor"
        | "$round" | "$trunc" | "$sum" | "$avg" | "$min" | "$max" => numbers::call(name, args),
        _ => operators::call(name, args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{bson, doc};

    fn eval(spec: Bson, doc: &Document) -> Value {
        compile(&spec, "test").unwrap().evaluate_on(doc).unwrap()
    }

    #[test]
    fn field_paths_read_through_arrays() {
        let d = doc! {"a": [{"b": 1}, 2, {"c": 3}, [{"b": 4}], {"b": [5]}]};
        assert_eq!(eval(bson!("$a.b"), &d), Some(bson!([1, [4], [5]])));
        assert_eq!(eval(bson!("$missing"), &d), None);
        assert_eq!(eval(bson!("$$ROOT.a.b"), &d), Some(bson!([1, [4], [5]])));
    }

    #[test]
    fn variables_and_conditionals() {
        let d = doc! {"n": 3, "tags": ["a", "b"]};
        assert_eq!(
            eval(
                bson!({"$let": {"vars": {"x": "$n"}, "in": {"$multiply": ["$$x", 2]}}}),
                &d
            ),
            Some(Bson::Int32(6))
        );
        assert_eq!(
            eval(
                bson!({"$map": {"input": "$tags", "as": "t", "in": {"$concat": ["$$t", "!"]}}}),
                &d
            ),
            Some(bson!(["a!", "b!"]))
        );
        assert_eq!(
            eval(bson!({"$cond": [{"$gt": ["$n", 2]}, "big", "small"]}), &d),
            Some(bson!("big"))
        );
        assert_eq!(
            eval(bson!({"$ifNull": ["$nope", null, "d"]}), &d),
            Some(bson!("d"))
        );
        assert_eq!(
            eval(
                bson!({"$reduce": {"input": "$tags", "initialValue": "", "in": {"$concat": ["$$value", "$$this"]}}}),
                &d
            ),
            Some(bson!("ab"))
        );
        assert!(compile(&bson!("$$nope"), "t").is_err());
        assert!(compile(&bson!({"$frobnicate": 1}), "t").is_err());
    }

    #[test]
    fn missing_is_below_null_and_not_equal_to_it() {
        let d = doc! {};
        assert_eq!(
            eval(bson!({"$eq": ["$x", null]}), &d),
            Some(Bson::Boolean(false))
        );
        assert_eq!(
            eval(bson!({"$lt": ["$x", null]}), &d),
            Some(Bson::Boolean(true))
        );
        assert_eq!(
            eval(bson!({"$gt": ["a", 1]}), &d),
            Some(Bson::Boolean(true))
        );
    }
}
