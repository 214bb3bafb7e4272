//! The compiled form of a rule expression.

use bson::Bson;

use super::expansion::{Base, Expansion};
use crate::query::{Comparison, FieldPath, ValueSet, ValueTest};
use crate::Location;

/// A boolean expression.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// `true`, `false`, or `{}` (true).
    Const(bool),
    /// All parts hold (an object's members, `%and`).
    And(Vec<Node>, Option<Location>),
    /// Some part holds (`%or`).
    Or(Vec<Node>, Option<Location>),
    /// No part holds (`$nor`, an extension).
    Nor(Vec<Node>, Option<Location>),
    /// One `"subject": test` member.
    Field(Box<FieldNode>),
}

/// One member of an expression object: what is tested, and how.
#[derive(Debug, Clone)]
pub(crate) struct FieldNode {
    pub subject: Subject,
    pub test: Test,
    pub at: Location,
    /// The member as written, for explanations.
    pub source: String,
}

/// What a member tests.
#[derive(Debug, Clone)]
pub(crate) enum Subject {
    /// A path below a root (`%%root.owner`, a plain field `owner`, `%%user.id`, `%%prevRoot`).
    Path(Base, FieldPath),
    /// `%%true` / `%%false`: compared strictly.
    Constant(bool),
}

/// A test applied to the subject's values.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    /// Implicit equality and `$eq`: MongoDB equality, with membership in both directions.
    Equals(Operand),
    /// `$ne`, `%neq`: not [`Test::Equals`].
    NotEquals(Operand),
    /// `$gt`, `$gte`, `$lt`, `$lte`.
    Compare(Comparison, Operand),
    /// `$in`: equal to an element of the operand array.
    In(Operand),
    /// `$nin`.
    NotIn(Operand),
    /// `$in` (or `$nin` when negated) over a literal list.
    InSet(ValueSet, bool),
    /// `$exists`.
    Exists(Operand),
    /// `%and` as a field's value, or several operators in one object.
    All(Vec<Test>),
    /// `%or` as a field's value.
    Any(Vec<Test>),
    /// `$not` (an extension).
    Not(Box<Test>),
    /// Extension operators with literal operands (`$type`, `$size`, `$mod`, `$regex`, `$all`,
    /// `$elemMatch`), run by the query module.
    Query(Vec<ValueTest>, bson::Document),
}

/// A value: literal, expansion, or the result of a value operator.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Literal(Bson),
    Expansion(Expansion),
    Convert(Conversion, Box<Operand>),
    Function { name: String, args: Vec<Operand> },
    Array(Vec<Operand>),
    Document(Vec<(String, Operand)>),
}

/// The four conversion operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conversion {
    StringToOid,
    OidToString,
    StringToUuid,
    UuidToString,
}

impl Conversion {
    pub fn name(self) -> &'static str {
        match self {
            Conversion::StringToOid => "%stringToOid",
            Conversion::OidToString => "%oidToString",
            Conversion::StringToUuid => "%stringToUuid",
            Conversion::UuidToString => "%uuidToString",
        }
    }
}

impl Operand {
    pub fn is_literal(&self) -> bool {
        matches!(self, Operand::Literal(_))
    }

    pub fn collect_expansions(&self, out: &mut Vec<Expansion>) {
        match self {
            Operand::Literal(_) => {}
            Operand::Expansion(e) => out.push(e.clone()),
            Operand::Convert(_, inner) => inner.collect_expansions(out),
            Operand::Function { args, .. } | Operand::Array(args) => {
                args.iter().for_each(|a| a.collect_expansions(out))
            }
            Operand::Document(parts) => parts.iter().for_each(|(_, p)| p.collect_expansions(out)),
        }
    }
}

impl Node {
    fn visit_fields<'a>(&'a self, f: &mut dyn FnMut(&'a FieldNode)) {
        match self {
            Node::Const(_) => {}
            Node::And(parts, _) | Node::Or(parts, _) | Node::Nor(parts, _) => {
                parts.iter().for_each(|p| p.visit_fields(f))
            }
            Node::Field(field) => f(field),
        }
    }

    pub fn reads_document(&self) -> bool {
        let mut reads = false;
        self.visit_fields(&mut |field| {
            let subject = matches!(
                field.subject,
                Subject::Path(Base::Root | Base::PrevRoot | Base::This | Base::Prev, _)
            );
            let mut expansions = Vec::new();
            field.test.collect_expansions(&mut expansions);
            reads |= subject
                || expansions.iter().any(|e| {
                    matches!(
                        e.base,
                        Base::Root | Base::PrevRoot | Base::This | Base::Prev
                    )
                });
        });
        reads
    }

    /// Whether a member reads `%%prevRoot`.
    pub fn reads_prev_root(&self) -> bool {
        let mut reads = false;
        self.visit_fields(&mut |field| {
            let subject = matches!(field.subject, Subject::Path(Base::PrevRoot, _));
            let mut expansions = Vec::new();
            field.test.collect_expansions(&mut expansions);
            reads |= subject || expansions.iter().any(|e| e.base == Base::PrevRoot);
        });
        reads
    }

    /// Whether a member reads a field's own value (`%%this`, `%%prev`).
    pub fn reads_field_value(&self) -> bool {
        let mut reads = false;
        self.visit_fields(&mut |field| {
            let subject = matches!(field.subject, Subject::Path(Base::This | Base::Prev, _));
            let mut expansions = Vec::new();
            field.test.collect_expansions(&mut expansions);
            reads |= subject
                || expansions
                    .iter()
                    .any(|e| matches!(e.base, Base::This | Base::Prev));
        });
        reads
    }

    pub fn calls_functions(&self) -> bool {
        let mut calls = false;
        self.visit_fields(&mut |field| calls |= field.test.calls_functions());
        calls
    }

    pub fn add_footprint(&self, footprint: &mut super::Footprint) {
        self.visit_fields(&mut |field| {
            if let Subject::Path(Base::Root | Base::PrevRoot, path) = &field.subject {
                // `{"%%prevRoot": {"%exists": …}}` asks whether there is a document, not
                // what is in it.
                let existence_only = path.is_empty() && matches!(field.test, Test::Exists(_));
                if !existence_only {
                    footprint.add_path(path.parts());
                }
            }
            if field.test.calls_functions() {
                footprint.add_whole();
            }
            let mut expansions = Vec::new();
            field.test.collect_expansions(&mut expansions);
            for e in expansions {
                if matches!(e.base, Base::Root | Base::PrevRoot) {
                    footprint.add_path(e.path.parts());
                }
            }
        });
    }

    pub fn document_fields(&self, out: &mut Vec<String>) {
        self.visit_fields(&mut |field| {
            if let Subject::Path(Base::Root, path) = &field.subject {
                out.extend(path.parts().first().cloned());
            }
            let mut expansions = Vec::new();
            field.test.collect_expansions(&mut expansions);
            for e in expansions {
                if e.base == Base::Root {
                    out.extend(e.path.parts().first().cloned());
                }
            }
        });
    }
}

impl Test {
    fn operands(&self) -> Vec<&Operand> {
        match self {
            Test::Equals(o)
            | Test::NotEquals(o)
            | Test::Compare(_, o)
            | Test::In(o)
            | Test::NotIn(o)
            | Test::Exists(o) => vec![o],
            Test::All(tests) | Test::Any(tests) => {
                tests.iter().flat_map(|t| t.operands()).collect()
            }
            Test::Not(inner) => inner.operands(),
            Test::InSet(..) | Test::Query(..) => Vec::new(),
        }
    }

    pub fn collect_expansions(&self, out: &mut Vec<Expansion>) {
        for operand in self.operands() {
            operand.collect_expansions(out);
        }
    }

    pub fn calls_functions(&self) -> bool {
        self.operands().iter().any(|o| o.calls_functions())
    }
}

impl Operand {
    pub fn calls_functions(&self) -> bool {
        match self {
            Operand::Function { .. } => true,
            Operand::Literal(_) | Operand::Expansion(_) => false,
            Operand::Convert(_, inner) => inner.calls_functions(),
            Operand::Array(parts) => parts.iter().any(Operand::calls_functions),
            Operand::Document(parts) => parts.iter().any(|(_, p)| p.calls_functions()),
        }
    }
}
