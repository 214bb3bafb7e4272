//! Located JSON → [`Node`]: classifies keys (plain field, `%%` expansion, operator), checks
//! which expansions the expression's kind may use, and reports every problem with its location
//! and, where one is close, a suggestion.

use bson::{Bson, Document};
use pest::Parser;

use super::ast::{Conversion, FieldNode, Node, Operand, Subject, Test};
use super::expansion::{parse_expansion, Base, Expansion};
use super::kind::ExprKind;
use super::operators::{lookup, Op, SPELLINGS};
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::grammar::{ExpressionGrammar, Rule};
use crate::json::{self, Json, JsonKind, Member};
use crate::query::{self, Comparison, ValueSet};
use crate::suggest::closest;
use crate::Location;

/// How a key of an expression object reads.
enum Key<'a> {
    Plain(&'a str),
    Expansion,
    Operator,
}

fn classify(key: &str) -> Key<'_> {
    if key.starts_with("%%") {
        Key::Expansion
    } else if (key.starts_with('%') || key.starts_with('$')) && key.len() > 1 {
        Key::Operator
    } else {
        Key::Plain(key)
    }
}

pub(crate) struct Compiler {
    pub kind: ExprKind,
    pub diagnostics: Vec<Diagnostic>,
    /// Extensions used, for `check --strict`.
    pub extensions: Vec<(Location, String)>,
    /// Compiling a MongoDB query or literal document: `$` keys are plain keys, only the value
    /// operators (`%function`, `%stringToOid`, …) are evaluated.
    pub literal_documents: bool,
}

impl Compiler {
    pub fn new(kind: ExprKind) -> Compiler {
        Compiler {
            kind,
            diagnostics: Vec::new(),
            extensions: Vec::new(),
            literal_documents: false,
        }
    }

    fn error(&mut self, at: &Location, message: impl Into<String>, hint: Option<String>) {
        self.diagnostics
            .push(Diagnostic::new(at.clone(), message).with_hint(hint));
    }

    /// An expression: `true`, `false`, or an object whose members all hold.
    pub fn expression(&mut self, json: &Json) -> Node {
        match &json.kind {
            JsonKind::Bool(b) => Node::Const(*b),
            JsonKind::Object(members) => {
                let mut parts: Vec<Node> = members.iter().filter_map(|m| self.member(m)).collect();
                match parts.len() {
                    0 if members.is_empty() => Node::Const(true),
                    1 => parts.remove(0),
                    _ => Node::And(parts, None),
                }
            }
            _ => {
                self.error(
                    &json.at,
                    format!(
                        "an expression must be true, false or an object, found {}",
                        json.kind_name()
                    ),
                    None,
                );
                Node::Const(false)
            }
        }
    }

    fn member(&mut self, member: &Member) -> Option<Node> {
        let at = &member.key_at;
        let subject = match classify(&member.key) {
            Key::Operator => return self.logical(member),
            Key::Expansion => {
                let expansion = self.expansion(&member.key, at)?;
                match expansion.base {
                    Base::True => Subject::Constant(true),
                    Base::False => Subject::Constant(false),
                    base => Subject::Path(base, expansion.path),
                }
            }
            Key::Plain(field) => match self.kind.implicit_base() {
                Some(base) => Subject::Path(base, query::FieldPath::parse(field)),
                None => {
                    self.error(
                        at,
                        format!(
                            "plain field {field:?} reads %%root, but {} runs before any document exists",
                            self.kind.describe()
                        ),
                        Some("compare an expansion such as %%user.id instead".into()),
                    );
                    return None;
                }
            },
        };
        let test = self.test(&member.value)?;
        Some(Node::Field(Box::new(FieldNode {
            subject,
            test,
            at: at.clone(),
            source: format!(
                "{}: {}",
                serde_json::Value::String(member.key.clone()),
                member.value.to_compact()
            ),
        })))
    }

    /// `%and` / `%or` / `$nor` at expression level.
    fn logical(&mut self, member: &Member) -> Option<Node> {
        let at = &member.key_at;
        let spelling = self.operator(&member.key, at)?;
        let combine: fn(Vec<Node>, Option<Location>) -> Node = match spelling {
            Op::And => Node::And,
            Op::Or => Node::Or,
            Op::Nor => Node::Nor,
            _ => {
                self.error(
                    at,
                    format!("operator {} needs a subject here", member.key),
                    Some(format!(
                        "write {{\"<field or %%expansion>\": {{\"{}\": …}}}}",
                        member.key
                    )),
                );
                return None;
            }
        };
        let JsonKind::Array(items) = &member.value.kind else {
            self.error(
                &member.value.at,
                format!("{} takes an array of expressions", member.key),
                None,
            );
            return None;
        };
        if items.is_empty() {
            self.error(
                &member.value.at,
                format!("{} needs at least one expression", member.key),
                None,
            );
            return None;
        }
        let parts = items.iter().map(|item| self.expression(item)).collect();
        Some(combine(parts, Some(at.clone())))
    }

    fn expansion(&mut self, text: &str, at: &Location) -> Option<Expansion> {
        match parse_expansion(text) {
            Ok(expansion) => {
                if !self.kind.allows(expansion.base) {
                    self.error(
                        at,
                        format!(
                            "do not know how to expand '%%{}' in {}",
                            expansion.base.name(),
                            self.kind.describe()
                        ),
                        Some(match expansion.base {
                            Base::Root | Base::PrevRoot | Base::This | Base::Prev => {
                                "document expansions exist only where a document is evaluated"
                                    .into()
                            }
                            Base::Args => "%%args exists only in service rules".into(),
                            Base::Partition => {
                                "%%partition exists only in Partition-Based Sync rules".into()
                            }
                            _ => "this expansion is not available here".into(),
                        }),
                    );
                    return None;
                }
                Some(expansion)
            }
            Err(problem) => {
                let hint = problem.suggestion.map(|s| format!("did you mean {s}?"));
                self.error(at, problem.message, hint);
                None
            }
        }
    }

    fn operator(&mut self, text: &str, at: &Location) -> Option<Op> {
        if ExpressionGrammar::parse(Rule::operator, text).is_err() {
            self.error(at, format!("malformed operator {text:?}"), None);
            return None;
        }
        match lookup(text) {
            Some(spelling) => {
                if spelling.extension {
                    self.extensions.push((at.clone(), spelling.text.to_owned()));
                }
                Some(spelling.op)
            }
            None => {
                let hint = closest(text, SPELLINGS.iter().map(|s| s.text))
                    .map(|s| format!("did you mean {s}?"));
                self.error(at, format!("unknown operator {text}"), hint);
                None
            }
        }
    }

    /// The value side of a member: an operator object, or a value compared for equality.
    fn test(&mut self, json: &Json) -> Option<Test> {
        if let JsonKind::Object(members) = &json.kind {
            if !json::is_extended_value(json)
                && members
                    .first()
                    .is_some_and(|m| matches!(classify(&m.key), Key::Operator))
            {
                return self.operator_tests(json, members);
            }
        }
        Some(Test::Equals(self.operand(json)?))
    }

    fn operator_tests(&mut self, json: &Json, members: &[Member]) -> Option<Test> {
        // A single value operator (`{"%function": …}`, `{"%stringToOid": …}`) is a value.
        if members.len() == 1 {
            if let Some(spelling) = lookup(&members[0].key) {
                if is_value_op(spelling.op) {
                    return Some(Test::Equals(self.operand(json)?));
                }
            }
        }
        let mut tests = Vec::new();
        let mut query_members: Vec<&Member> = Vec::new();
        for m in members {
            if !matches!(classify(&m.key), Key::Operator) {
                self.error(
                    &m.key_at,
                    format!(
                        "{:?} is not an operator; an object of operators cannot also hold fields",
                        m.key
                    ),
                    None,
                );
                continue;
            }
            let Some(op) = self.operator(&m.key, &m.key_at) else {
                continue;
            };
            let operand = |c: &mut Compiler| c.operand(&m.value);
            let test = match op {
                Op::Eq => operand(self).map(Test::Equals),
                Op::Ne => operand(self).map(Test::NotEquals),
                Op::Gt => operand(self).map(|o| Test::Compare(Comparison::Gt, o)),
                Op::Gte => operand(self).map(|o| Test::Compare(Comparison::Gte, o)),
                Op::Lt => operand(self).map(|o| Test::Compare(Comparison::Lt, o)),
                Op::Lte => operand(self).map(|o| Test::Compare(Comparison::Lte, o)),
                Op::In | Op::Nin => self.array_operand(&m.value, &m.key).map(|operand| {
                    let negate = op == Op::Nin;
                    match operand {
                        Operand::Literal(Bson::Array(items)) => {
                            Test::InSet(ValueSet::new(&items), negate)
                        }
                        other if negate => Test::NotIn(other),
                        other => Test::In(other),
                    }
                }),
                Op::Exists => operand(self).map(Test::Exists),
                Op::And | Op::Or => self.test_list(&m.value, &m.key).map(|list| {
                    if op == Op::And {
                        Test::All(list)
                    } else {
                        Test::Any(list)
                    }
                }),
                Op::Not => match &m.value.kind {
                    JsonKind::Object(inner) if !inner.is_empty() => self
                        .operator_tests(&m.value, inner)
                        .map(|t| Test::Not(Box::new(t))),
                    _ => {
                        self.error(&m.value.at, "$not takes an object of operators", None);
                        None
                    }
                },
                Op::QueryOnly => {
                    query_members.push(m);
                    None
                }
                Op::Nor => {
                    self.error(
                        &m.key_at,
                        "$nor combines expressions; it cannot test a field",
                        None,
                    );
                    None
                }
                Op::Function
                | Op::StringToOid
                | Op::OidToString
                | Op::StringToUuid
                | Op::UuidToString => {
                    self.error(
                        &m.key_at,
                        format!(
                            "{} produces a value; it cannot sit beside other operators",
                            m.key
                        ),
                        Some(format!(
                            "compare with it through an operator, e.g. {{\"$eq\": {{\"{}\": …}}}}",
                            m.key
                        )),
                    );
                    None
                }
            };
            tests.extend(test);
        }
        if !query_members.is_empty() {
            tests.extend(self.query_test(&query_members, json));
        }
        match tests.len() {
            0 => None,
            1 => tests.pop(),
            _ => Some(Test::All(tests)),
        }
    }

    fn test_list(&mut self, json: &Json, op: &str) -> Option<Vec<Test>> {
        let JsonKind::Array(items) = &json.kind else {
            self.error(&json.at, format!("{op} takes an array of operator objects, e.g. [{{\"$gt\": 0}}, {{\"$lte\": 42}}]"), None);
            return None;
        };
        if items.is_empty() {
            self.error(&json.at, format!("{op} needs at least one element"), None);
            return None;
        }
        let mut list = Vec::with_capacity(items.len());
        for item in items {
            match &item.kind {
                JsonKind::Object(members)
                    if members
                        .first()
                        .is_some_and(|m| matches!(classify(&m.key), Key::Operator)) =>
                {
                    list.extend(self.operator_tests(item, members));
                }
                _ => list.extend(self.operand(item).map(Test::Equals)),
            }
        }
        Some(list)
    }

    /// Extension operators with literal operands, compiled by the query module.
    fn query_test(&mut self, members: &[&Member], whole: &Json) -> Option<Test> {
        let mut doc = Document::new();
        for m in members {
            if let Some(at) = find_expansion(&m.value) {
                self.error(
                    &at,
                    format!("{} takes a literal operand (no expansions)", m.key),
                    None,
                );
                return None;
            }
            match json::to_bson(&m.value) {
                Ok(value) => {
                    doc.insert(m.key.clone(), value);
                }
                Err(e) => {
                    self.error(&e.at, e.message, None);
                    return None;
                }
            }
        }

        match query::parse_value_tests(&doc, "") {
            Ok(tests) => Some(Test::Query(tests, doc)),
            Err(e) => {
                self.error(&whole.at, e.message, None);
                None
            }
        }
    }

    fn array_operand(&mut self, json: &Json, op: &str) -> Option<Operand> {
        let operand = self.operand(json)?;
        if let Operand::Literal(value) = &operand {
            if !matches!(value, Bson::Array(_)) {
                self.error(
                    &json.at,
                    format!("{op} takes an array (or an expansion that gives one)"),
                    None,
                );
                return None;
            }
        }
        Some(operand)
    }

    /// A value: literal, `%%` expansion, value operator, or an array/document containing them.
    pub fn operand(&mut self, json: &Json) -> Option<Operand> {
        match &json.kind {
            JsonKind::String(s) if s.starts_with("%%") => {
                self.expansion(s, &json.at).map(Operand::Expansion)
            }
            JsonKind::Array(items) => {
                let parts: Vec<Operand> = items
                    .iter()
                    .map(|i| self.operand(i))
                    .collect::<Option<_>>()?;
                if parts.iter().all(Operand::is_literal) {
                    Some(Operand::Literal(Bson::Array(
                        parts
                            .into_iter()
                            .map(|p| match p {
                                Operand::Literal(v) => v,
                                _ => Bson::Null,
                            })
                            .collect(),
                    )))
                } else {
                    Some(Operand::Array(parts))
                }
            }
            JsonKind::Object(members) if !json::is_extended_value(json) => {
                if let Some(first) = members.first() {
                    let value_op = lookup(&first.key).is_some_and(|s| is_value_op(s.op));
                    if matches!(classify(&first.key), Key::Operator)
                        && (value_op || !self.literal_documents)
                    {
                        return self.value_operator(json, members);
                    }
                }
                let mut parts = Vec::with_capacity(members.len());
                for m in members {
                    parts.push((m.key.clone(), self.operand(&m.value)?));
                }
                if parts.iter().all(|(_, p)| p.is_literal()) {
                    let doc = parts
                        .into_iter()
                        .map(|(k, p)| match p {
                            Operand::Literal(v) => (k, v),
                            _ => (k, Bson::Null),
                        })
                        .collect();
                    Some(Operand::Literal(Bson::Document(doc)))
                } else {
                    Some(Operand::Document(parts))
                }
            }
            _ => match json::to_bson(json) {
                Ok(value) => Some(Operand::Literal(value)),
                Err(e) => {
                    self.error(&e.at, e.message, None);
                    None
                }
            },
        }
    }

    fn value_operator(&mut self, json: &Json, members: &[Member]) -> Option<Operand> {
        let first = &members[0];
        let op = self.operator(&first.key, &first.key_at)?;
        if !is_value_op(op) {
            self.error(
                &first.key_at,
                format!(
                    "{} tests a value; it cannot be used as a value here",
                    first.key
                ),
                None,
            );
            return None;
        }
        if members.len() > 1 {
            self.error(
                &members[1].key_at,
                format!("{} must be the only key of its object", first.key),
                None,
            );
            return None;
        }
        let conversion = match op {
            Op::Function => return self.function(&first.value, &json.at),
            Op::StringToOid => Conversion::StringToOid,
            Op::OidToString => Conversion::OidToString,
            Op::StringToUuid => Conversion::StringToUuid,
            _ => Conversion::UuidToString,
        };
        let inner = self.operand(&first.value)?;
        if !matches!(inner, Operand::Literal(_) | Operand::Expansion(_)) {
            self.error(
                &first.value.at,
                format!(
                    "{} takes a literal or an expansion; it does not evaluate nested operators",
                    conversion.name()
                ),
                None,
            );
            return None;
        }
        Some(Operand::Convert(conversion, Box::new(inner)))
    }

    fn function(&mut self, json: &Json, at: &Location) -> Option<Operand> {
        if !self.kind.allows_functions() {
            self.error(
                at,
                format!("%function cannot be used in {}", self.kind.describe()),
                None,
            );
            return None;
        }
        let Some(members) = json.as_object() else {
            self.error(
                &json.at,
                "%function takes {\"name\": \"<function>\", \"arguments\": [...]}",
                None,
            );
            return None;
        };
        let mut name = None;
        let mut args = Vec::new();
        for m in members {
            match (m.key.as_str(), &m.value.kind) {
                ("name", JsonKind::String(n)) if !n.is_empty() => name = Some(n.clone()),
                ("name", _) => self.error(
                    &m.value.at,
                    "%function's name must be a non-empty string",
                    None,
                ),
                ("arguments", JsonKind::Array(items)) => {
                    args = items
                        .iter()
                        .map(|i| self.operand(i))
                        .collect::<Option<_>>()?;
                }
                ("arguments", _) => {
                    self.error(&m.value.at, "%function's arguments must be an array", None)
                }
                (other, _) => {
                    let hint = did_you_mean(other, ["name", "arguments"]);
                    self.error(&m.key_at, format!("unknown %function key {other:?}"), hint)
                }
            }
        }
        let Some(name) = name else {
            self.error(&json.at, "%function needs a \"name\"", None);
            return None;
        };
        Some(Operand::Function { name, args })
    }
}

/// The location of the first `%%` string inside a value, if any.
fn find_expansion(json: &Json) -> Option<Location> {
    match &json.kind {
        JsonKind::String(s) if s.starts_with("%%") => Some(json.at.clone()),
        JsonKind::Array(items) => items.iter().find_map(find_expansion),
        JsonKind::Object(members) => members.iter().find_map(|m| find_expansion(&m.value)),
        _ => None,
    }
}

fn is_value_op(op: Op) -> bool {
    matches!(
        op,
        Op::Function | Op::StringToOid | Op::OidToString | Op::StringToUuid | Op::UuidToString
    )
}
