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
    Query(Vec<ValueTest>),
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
}
