//! MongoDB queries with `%%` expansions (a filter's `query`), resolved per request so that
//! substituted values can only ever be compared, never read as operators.
//!
//! An expansion may stand as a field's whole value (it becomes `{"$eq": value}`) or as the operand
//! of `$eq $ne $gt $gte $lt $lte $in $nin`. Anywhere else is a compile error. A missing expansion
//! makes the whole query match nothing.

use bson::{doc, Bson, Document};

use super::ast::Operand;
use super::bindings::Bindings;
use super::compile::Compiler;
use super::eval::resolve;
use super::kind::ExprKind;
use super::CompileError;
use crate::diagnostic::Diagnostic;
use crate::json::{Json, JsonKind};

const COMPARISONS: &[&str] = &["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin"];

#[derive(Debug, Clone)]
enum Node {
    Literal(Bson),
    Document(Vec<(String, Node)>),
    Array(Vec<Node>),
    /// A field's whole value: `{"$eq": value}` once resolved.
    Equals(Operand),
    /// The operand of a comparison operator.
    Compared(&'static str, Operand),
}

/// A compiled query template.
///
/// ```
/// use bson::doc;
/// use expanse::expr::{Bindings, ExprKind, QueryTemplate};
/// let json = expanse::json::parse(r#"{"owner_id": "%%user.id"}"#, "rules.json").unwrap();
/// let query = QueryTemplate::compile(&json, ExprKind::FilterApplyWhen).unwrap();
/// let user = doc! {"id": {"$ne": null}};
/// let resolved = query.resolve(&Bindings::new().user(&user)).unwrap();
/// assert_eq!(resolved, Some(doc! {"owner_id": {"$eq": {"$ne": null}}}));
/// assert_eq!(query.resolve(&Bindings::new()).unwrap(), None, "missing expansion: match nothing");
/// ```
#[derive(Debug, Clone)]
pub struct QueryTemplate {
    root: Vec<(String, Node)>,
}

struct Builder<'c> {
    compiler: Compiler,
    errors: &'c mut Vec<Diagnostic>,
}

fn has_expansion(json: &Json) -> bool {
    match &json.kind {
        JsonKind::String(s) => s.starts_with("%%"),
        JsonKind::Array(items) => items.iter().any(has_expansion),
        JsonKind::Object(members) => members
            .iter()
            .any(|m| m.key.starts_with('%') || has_expansion(&m.value)),
        _ => false,
    }
}

impl Builder<'_> {
    fn literal(&mut self, json: &Json) -> Option<Node> {
        match crate::json::to_bson(json) {
            Ok(v) => Some(Node::Literal(v)),
            Err(e) => {
                self.errors.push(Diagnostic {
                    at: e.at,
                    message: e.message,
                    hint: None,
                });
                None
            }
        }
    }

    fn operand(&mut self, json: &Json) -> Option<Operand> {
        let operand = self.compiler.operand(json);
        self.errors.append(&mut self.compiler.diagnostics);
        operand
    }

    fn query(&mut self, json: &Json) -> Option<Vec<(String, Node)>> {
        let Some(members) = json.as_object() else {
            self.errors.push(Diagnostic {
                at: json.at.clone(),
                message: format!("a query must be an object, found {}", json.kind_name()),
                hint: None,
            });
            return None;
        };
        let mut out = Vec::with_capacity(members.len());
        for m in members {
            let node = match m.key.as_str() {
                "$and" | "$or" | "$nor" => match &m.value.kind {
                    JsonKind::Array(items) => Node::Array(
                        items
                            .iter()
                            .filter_map(|i| self.query(i).map(Node::Document))
                            .collect(),
                    ),
                    _ => self.literal(&m.value)?,
                },
                key if key.starts_with('$') => {
                    if has_expansion(&m.value) {
                        self.errors.push(Diagnostic {
                            at: m.key_at.clone(),
                            message: format!("expansions cannot be used inside {key} in a filter query"),
                            hint: Some("compare a field with the expansion instead: {\"field\": \"%%user.id\"}".into()),
                        });
                        continue;
                    }
                    self.literal(&m.value)?
                }
                _ => self.field_value(&m.value)?,
            };
            out.push((m.key.clone(), node));
        }
        Some(out)
    }

    fn field_value(&mut self, json: &Json) -> Option<Node> {
        if !has_expansion(json) {
            return self.literal(json);
        }
        let operators = json
            .as_object()
            .filter(|ms| ms.first().is_some_and(|m| m.key.starts_with('$')));
        let Some(members) = operators else {
            return self.operand(json).map(Node::Equals);
        };
        let mut out = Vec::with_capacity(members.len());
        for m in members {
            let node = match COMPARISONS.iter().find(|c| **c == m.key) {
                Some(op) if has_expansion(&m.value) => Node::Compared(op, self.operand(&m.value)?),
                _ if m.key == "$not" || m.key == "$elemMatch" => {
                    if has_expansion(&m.value) {
                        self.errors.push(Diagnostic {
                            at: m.key_at.clone(),
                            message: format!(
                                "expansions cannot be used inside {} in a filter query",
                                m.key
                            ),
                            hint: None,
                        });
                        continue;
                    }
                    self.literal(&m.value)?
                }
                _ if has_expansion(&m.value) => {
                    self.errors.push(Diagnostic {
                        at: m.key_at.clone(),
                        message: format!(
                            "expansions can only be compared ({}); not used with {}",
                            COMPARISONS.join(" "),
                            m.key
                        ),
                        hint: None,
                    });
                    continue;
                }
                _ => self.literal(&m.value)?,
            };
            out.push((m.key.clone(), node));
        }
        Some(Node::Document(out))
    }
}

impl QueryTemplate {
    /// The query's top-level keys (field paths and operators such as `$or`).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.root.iter().map(|(k, _)| k.as_str())
    }

    /// Compiles a query; expansions are checked against `kind`.
    pub fn compile(json: &Json, kind: ExprKind) -> Result<QueryTemplate, CompileError> {
        let mut errors = Vec::new();
        let mut compiler = Compiler::new(kind);
        compiler.literal_documents = true;
        let root = Builder {
            compiler,
            errors: &mut errors,
        }
        .query(json);
        match root {
            Some(root) if errors.is_empty() => Ok(QueryTemplate { root }),
            _ => Err(CompileError {
                diagnostics: errors,
            }),
        }
    }

    /// The query for this request, or `None` when an expansion it uses is missing (the filter
    /// then matches nothing).
    pub fn resolve(&self, ctx: &Bindings<'_>) -> Result<Option<Document>, String> {
        let mut out = Document::new();
        for (key, node) in &self.root {
            match resolve_node(node, ctx)? {
                Some(v) => {
                    out.insert(key.clone(), v);
                }
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }
}

fn resolve_node(node: &Node, ctx: &Bindings<'_>) -> Result<Option<Bson>, String> {
    Ok(Some(match node {
        Node::Literal(v) => v.clone(),
        Node::Document(parts) => {
            let mut doc = Document::new();
            for (k, n) in parts {
                let Some(v) = resolve_node(n, ctx)? else {
                    return Ok(None);
                };
                doc.insert(k.clone(), v);
            }
            Bson::Document(doc)
        }
        Node::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for n in items {
                let Some(v) = resolve_node(n, ctx)? else {
                    return Ok(None);
                };
                out.push(v);
            }
            Bson::Array(out)
        }
        Node::Equals(operand) => match resolve(operand, ctx)? {
            Some(v) => Bson::Document(doc! {"$eq": v.into_owned()}),
            None => return Ok(None),
        },
        Node::Compared(op, operand) => {
            let Some(v) = resolve(operand, ctx)? else {
                return Ok(None);
            };
            let v = v.into_owned();
            if *op == "$in" || *op == "$nin" {
                let Bson::Array(items) = &v else {
                    return Err(format!(
                        "{op} needs an array, the expansion gave {}",
                        v.clone().into_relaxed_extjson()
                    ));
                };
                // Inside $in, MongoDB runs regular expressions and refuses operator documents:
                // data may do neither.
                let unsafe_element = items.iter().any(|i| match i {
                    Bson::RegularExpression(_) => true,
                    Bson::Document(d) => d.keys().any(|k| k.starts_with('$')),
                    _ => false,
                });
                if unsafe_element {
                    return Err(format!("{op}: the expansion's array holds a regular expression or an operator document, which a query cannot compare literally"));
                }
            }
            v
        }
    }))
}
