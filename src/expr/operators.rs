//! The operator keys rule expressions accept, with every spelling.

/// What an operator does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Nin,
    Exists,
    And,
    Or,
    Nor,
    Not,
    /// `$all $elemMatch $size $type $mod $regex $options`: literal operands, query semantics.
    QueryOnly,
    Function,
    StringToOid,
    OidToString,
    StringToUuid,
    UuidToString,
}

/// One accepted spelling.
pub(crate) struct Spelling {
    pub text: &'static str,
    pub op: Op,
    /// Not documented for App Services rule expressions; flagged by `check --strict`.
    pub extension: bool,
}

const fn core(text: &'static str, op: Op) -> Spelling {
    Spelling {
        text,
        op,
        extension: false,
    }
}

const fn ext(text: &'static str, op: Op) -> Spelling {
    Spelling {
        text,
        op,
        extension: true,
    }
}

pub(crate) const SPELLINGS: &[Spelling] = &[
    core("%eq", Op::Eq),
    core("$eq", Op::Eq),
    core("%neq", Op::Ne),
    core("%ne", Op::Ne),
    core("$ne", Op::Ne),
    core("%gt", Op::Gt),
    core("$gt", Op::Gt),
    core("%gte", Op::Gte),
    core("$gte", Op::Gte),
    core("%lt", Op::Lt),
    core("$lt", Op::Lt),
    core("%lte", Op::Lte),
    core("$lte", Op::Lte),
    core("%in", Op::In),
    core("$in", Op::In),
    core("%nin", Op::Nin),
    core("$nin", Op::Nin),
    core("%exists", Op::Exists),
    core("$exists", Op::Exists),
    core("%and", Op::And),
    core("$and", Op::And),
    core("%or", Op::Or),
    core("$or", Op::Or),
    core("%function", Op::Function),
    core("%stringToOid", Op::StringToOid),
    core("%oidToString", Op::OidToString),
    core("%stringToUuid", Op::StringToUuid),
    core("%uuidToString", Op::UuidToString),
    ext("$nor", Op::Nor),
    ext("$not", Op::Not),
    ext("$all", Op::QueryOnly),
    ext("$elemMatch", Op::QueryOnly),
    ext("$size", Op::QueryOnly),
    ext("$type", Op::QueryOnly),
    ext("$mod", Op::QueryOnly),
    ext("$regex", Op::QueryOnly),
    ext("$options", Op::QueryOnly),
];

/// Looks up an operator spelling.
pub(crate) fn lookup(text: &str) -> Option<&'static Spelling> {
    SPELLINGS.iter().find(|s| s.text == text)
}
