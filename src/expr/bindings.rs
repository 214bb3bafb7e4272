//! The values an expression can see: `%%user`, `%%root`, `%%values`, …

use bson::{Bson, Document};

use super::expansion::Base;
use super::function::FunctionCaller;
use crate::json::{self, Json, JsonError, JsonKind};
use crate::suggest::closest;

/// What an expression is evaluated against. Everything is borrowed, so building a context per
/// document costs nothing; [`BindingsData`] owns the same values when needed.
///
/// ```
/// use bson::doc;
/// use expanse::expr::{Bindings, ExprKind, Expression};
/// let rule = Expression::parse(r#"{"owner_id": "%%user.id"}"#, "rule.json", ExprKind::Any).unwrap();
/// let user = doc! {"id": "u1"};
/// let note = doc! {"owner_id": "u1"};
/// assert!(rule.evaluate(&Bindings::new().user(&user).root(&note)));
/// ```
#[derive(Clone, Copy, Default)]
pub struct Bindings<'a> {
    user: Option<&'a Document>,
    root: Option<&'a Document>,
    prev_root: Option<&'a Document>,
    this: Option<&'a Bson>,
    prev: Option<&'a Bson>,
    args: Option<&'a Document>,
    values: Option<&'a Document>,
    environment: Option<&'a Document>,
    request: Option<&'a Document>,
    partition: Option<&'a Bson>,
    functions: Option<&'a dyn FunctionCaller>,
}

/// A base value: a document, any value, or missing.
#[derive(Clone, Copy)]
pub(crate) enum BaseRef<'a> {
    Doc(&'a Document),
    Value(&'a Bson),
    Missing,
}

impl<'a> Bindings<'a> {
    /// An empty context: every expansion is missing.
    pub fn new() -> Bindings<'a> {
        Bindings::default()
    }

    /// `%%user`: `{id, type, data, custom_data, identities}`.
    pub fn user(mut self, user: &'a Document) -> Self {
        self.user = Some(user);
        self
    }
    /// `%%root` (plain field names read it too).
    pub fn root(mut self, root: &'a Document) -> Self {
        self.root = Some(root);
        self
    }
    /// `%%prevRoot`.
    pub fn prev_root(mut self, prev_root: &'a Document) -> Self {
        self.prev_root = Some(prev_root);
        self
    }
    /// `%%this`.
    pub fn this(mut self, this: &'a Bson) -> Self {
        self.this = Some(this);
        self
    }
    /// `%%prev`.
    pub fn prev(mut self, prev: &'a Bson) -> Self {
        self.prev = Some(prev);
        self
    }
    /// `%%args`.
    pub fn args(mut self, args: &'a Document) -> Self {
        self.args = Some(args);
        self
    }
    /// `%%values`.
    pub fn values(mut self, values: &'a Document) -> Self {
        self.values = Some(values);
        self
    }
    /// `%%environment`: `{tag, values}`.
    pub fn environment(mut self, environment: &'a Document) -> Self {
        self.environment = Some(environment);
        self
    }
    /// `%%request`.
    pub fn request(mut self, request: &'a Document) -> Self {
        self.request = Some(request);
        self
    }
    /// `%%partition`.
    pub fn partition(mut self, partition: &'a Bson) -> Self {
        self.partition = Some(partition);
        self
    }
    /// The runtime that `%function` calls.
    pub fn functions(mut self, functions: &'a dyn FunctionCaller) -> Self {
        self.functions = Some(functions);
        self
    }

    /// The same context without a document (for push-down).
    pub(crate) fn without_document(&self) -> Bindings<'a> {
        Bindings {
            root: None,
            prev_root: None,
            this: None,
            prev: None,
            ..*self
        }
    }

    pub(crate) fn function_caller(&self) -> Option<&'a dyn FunctionCaller> {
        self.functions
    }

    pub(crate) fn base(&self, base: Base) -> BaseRef<'a> {
        let doc = |d: Option<&'a Document>| d.map_or(BaseRef::Missing, BaseRef::Doc);
        let value = |v: Option<&'a Bson>| v.map_or(BaseRef::Missing, BaseRef::Value);
        match base {
            Base::Root => doc(self.root),
            Base::PrevRoot => doc(self.prev_root),
            Base::User => doc(self.user),
            Base::Args => doc(self.args),
            Base::Values => doc(self.values),
            Base::Environment => doc(self.environment),
            Base::Request => doc(self.request),
            Base::This => value(self.this),
            Base::Prev => value(self.prev),
            Base::Partition => value(self.partition),
            Base::True | Base::False => BaseRef::Missing,
        }
    }
}

/// Owned context values, read from a JSON context file (`expanse eval --context`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BindingsData {
    /// `user`
    pub user: Option<Document>,
    /// `root`
    pub root: Option<Document>,
    /// `prevRoot`
    pub prev_root: Option<Document>,
    /// `this`
    pub this: Option<Bson>,
    /// `prev`
    pub prev: Option<Bson>,
    /// `args`
    pub args: Option<Document>,
    /// `values`
    pub values: Option<Document>,
    /// `environment`
    pub environment: Option<Document>,
    /// `request`
    pub request: Option<Document>,
    /// `partition`
    pub partition: Option<Bson>,
}

const CONTEXT_KEYS: &[&str] = &[
    "user",
    "root",
    "prevRoot",
    "this",
    "prev",
    "args",
    "values",
    "environment",
    "request",
    "partition",
];

impl BindingsData {
    /// Reads a context object (Extended JSON); unknown keys and wrong types are errors with
    /// their location.
    pub fn from_json(json: &Json) -> Result<BindingsData, JsonError> {
        let JsonKind::Object(members) = &json.kind else {
            return Err(JsonError {
                at: json.at.clone(),
                message: format!("a context must be an object, found {}", json.kind_name()),
            });
        };
        let mut data = BindingsData::default();
        for m in members {
            let doc = || json::to_document(&m.value);
            let any = || json::to_bson(&m.value);
            match m.key.as_str() {
                "user" => data.user = Some(doc()?),
                "root" => data.root = Some(doc()?),
                "prevRoot" => data.prev_root = Some(doc()?),
                "this" => data.this = Some(any()?),
                "prev" => data.prev = Some(any()?),
                "args" => data.args = Some(doc()?),
                "values" => data.values = Some(doc()?),
                "environment" => data.environment = Some(doc()?),
                "request" => data.request = Some(doc()?),
                "partition" => data.partition = Some(any()?),
                other => {
                    let hint = closest(other, CONTEXT_KEYS.iter().copied())
                        .map(|s| format!("; did you mean {s:?}?"))
                        .unwrap_or_default();
                    return Err(JsonError {
                        at: m.key_at.clone(),
                        message: format!(
                            "unknown context key {other:?} (expected one of {}){hint}",
                            CONTEXT_KEYS.join(", ")
                        ),
                    });
                }
            }
        }
        Ok(data)
    }

    /// A borrowed [`Bindings`] over these values.
    pub fn context(&self) -> Bindings<'_> {
        Bindings {
            user: self.user.as_ref(),
            root: self.root.as_ref(),
            prev_root: self.prev_root.as_ref(),
            this: self.this.as_ref(),
            prev: self.prev.as_ref(),
            args: self.args.as_ref(),
            values: self.values.as_ref(),
            environment: self.environment.as_ref(),
            request: self.request.as_ref(),
            partition: self.partition.as_ref(),
            functions: None,
        }
    }
}
