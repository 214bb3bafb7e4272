//! The update operators: each `{"$op": {path: argument}}` entry parsed into a [`Leaf`], and a
//! leaf applied at one concrete path of a document.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::number::{self, Arith, BitOp};
use super::path::{self, type_name, UpdatePath};
use super::UpdateError;
use crate::query::{compare_values, values_equal, FieldPath, Filter};

/// An operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Set,
    SetOnInsert,
    Unset,
    Inc,
    Mul,
    Min,
    Max,
    Rename,
    CurrentDate,
    Push,
    AddToSet,
    Pull,
    PullAll,
    Pop,
    Bit,
}

impl Kind {
    fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "$set" => Kind::Set,
            "$setOnInsert" => Kind::SetOnInsert,
            "$unset" => Kind::Unset,
            "$inc" => Kind::Inc,
            "$mul" => Kind::Mul,
            "$min" => Kind::Min,
            "$max" => Kind::Max,
            "$rename" => Kind::Rename,
            "$currentDate" => Kind::CurrentDate,
            "$push" => Kind::Push,
            "$addToSet" => Kind::AddToSet,
            "$pull" => Kind::Pull,
            "$pullAll" => Kind::PullAll,
            "$pop" => Kind::Pop,
            "$bit" => Kind::Bit,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Set => "$set",
            Kind::SetOnInsert => "$setOnInsert",
            Kind::Unset => "$unset",
            Kind::Inc => "$inc",
            Kind::Mul => "$mul",
            Kind::Min => "$min",
            Kind::Max => "$max",
            Kind::Rename => "$rename",
            Kind::CurrentDate => "$currentDate",
            Kind::Push => "$push",
            Kind::AddToSet => "$addToSet",
            Kind::Pull => "$pull",
            Kind::PullAll => "$pullAll",
            Kind::Pop => "$pop",
            Kind::Bit => "$bit",
        }
    }

    /// Whether the operator creates a missing path.
    fn creates(self) -> bool {
        !matches!(
            self,
            Kind::Unset | Kind::Pull | Kind::PullAll | Kind::Pop | Kind::Rename
        )
    }
}

/// An operator's argument for one path.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Value(Bson),
    CurrentDate {
        timestamp: bool,
    },
    None,
    Push(Push),
    AddToSet(Vec<Bson>),
    Pull(PullCondition),
    PullAll(Vec<Bson>),
    Pop {
        front: bool,
    },
    Bit(Vec<(BitOp, Bson)>),
    /// The source path of a `$rename` whose leaf sits at the target.
    RenameFrom(Vec<String>),
}

#[derive(Debug, Clone)]
pub(crate) struct Push {
    each: Vec<Bson>,
    slice: Option<i64>,
    sort: Option<PushSort>,
    position: Option<i64>,
}

#[derive(Debug, Clone)]
enum PushSort {
    Whole { descending: bool },
    Fields(Vec<(FieldPath, bool)>),
}

#[derive(Debug, Clone)]
pub(crate) enum PullCondition {
    /// A value equal to the argument.
    Equals(Bson),
    /// Operators (or a regular expression) applied to the element itself.
    Wrapped(Filter),
    /// A query on elements that are documents.
    Query(Filter),
}

/// One operator at one path of the update.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub(crate) kind: Kind,
    pub(crate) path: UpdatePath,
    pub(crate) arg: Arg,
}

/// The leaves of an update document, in its order; a `$rename` gives a leaf at its target and
/// reports its source among `sources`.
pub(crate) struct Parsed {
    pub(crate) leaves: Vec<Leaf>,
    /// Every path in the order MongoDB merges them (a `$rename`'s source before its target).
    pub(crate) tree_paths: Vec<UpdatePath>,
}

pub(crate) fn parse(update: &Document) -> Result<Parsed, UpdateError> {
    let mut leaves = Vec::new();
    let mut tree_paths = Vec::new();
    for (name, spec) in update {
        let kind = Kind::parse(name).ok_or_else(|| {
            UpdateError::new(
                name.clone(),
                format!("Unknown modifier: {name}. Expected a valid update modifier or pipeline-style update specified as an array"),
            )
        })?;
        let Bson::Document(fields) = spec else {
            return Err(UpdateError::new(
                name.clone(),
                format!(
                    "Modifiers operate on fields but we found type {} instead. For example: {{$mod: {{<field>: ...}}}}",
                    type_name(spec)
                ),
            ));
        };
        for (field, value) in fields {
            if kind == Kind::Rename {
                let (from, to) = parse_rename(field, value)?;
                tree_paths.push(from.clone());
                tree_paths.push(to.clone());
                leaves.push(Leaf {
                    kind,
                    path: to,
                    arg: Arg::RenameFrom(from.fields()),
                });
                continue;
            }
            let path = UpdatePath::parse(field)?;
            let arg = parse_arg(kind, field, value)?;
            tree_paths.push(path.clone());
            leaves.push(Leaf { kind, path, arg });
        }
    }
    Ok(Parsed { leaves, tree_paths })
}

fn parse_rename(field: &str, value: &Bson) -> Result<(UpdatePath, UpdatePath), UpdateError> {
    let from = UpdatePath::parse(field)?;
    let Bson::String(to) = value else {
        return Err(UpdateError::new(
            field,
            "The 'to' field for $rename must be a string",
        ));
    };
    let to = UpdatePath::parse(to)?;
    if to.text.contains('\0') {
        return Err(UpdateError::new(
            field,
            "The 'to' field for $rename cannot contain an embedded null byte",
        ));
    }
    let (f, t) = (from.fields(), to.fields());
    if f == t {
        return Err(UpdateError::new(
            field,
            "The source and target field for $rename must differ",
        ));
    }
    if f.starts_with(&t) || t.starts_with(&f) {
        return Err(UpdateError::new(
            field,
            "The source and target field for $rename must not be on the same path",
        ));
    }
    if from.is_dynamic() {
        return Err(UpdateError::new(
            field,
            format!(
                "The source field for $rename may not be dynamic: {}",
                from.text
            ),
        ));
    }
    if to.is_dynamic() {
        return Err(UpdateError::new(
            field,
            format!(
                "The destination field for $rename may not be dynamic: {}",
                to.text
            ),
        ));
    }
    Ok((from, to))
}

fn parse_arg(kind: Kind, field: &str, value: &Bson) -> Result<Arg, UpdateError> {
    let err = |m: String| UpdateError::new(field, m);
    Ok(match kind {
        Kind::Inc | Kind::Mul => {
            if !number::is_number(value) {
                return Err(err(format!(
                    "Cannot {} with non-numeric argument of type {}",
                    if kind == Kind::Inc {
                        "increment"
                    } else {
                        "multiply"
                    },
                    type_name(value)
                )));
            }
            Arg::Value(value.clone())
        }
        Kind::CurrentDate => match value {
            Bson::Boolean(_) => Arg::CurrentDate { timestamp: false },
            Bson::Document(d) => match (d.len(), d.get("$type")) {
                (1, Some(Bson::String(t))) if t == "date" || t == "timestamp" => {
                    Arg::CurrentDate {
                        timestamp: t == "timestamp",
                    }
                }
                _ => {
                    return Err(err(
                        "The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: {field : {$type: 'date'}}}".into(),
                    ))
                }
            },
            _ => {
                return Err(err(format!(
                    "{} is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({{$type: 'timestamp/date'}}).",
                    type_name(value)
                )))
            }
        },
        Kind::Push => Arg::Push(parse_push(field, value)?),
        Kind::AddToSet => Arg::AddToSet(parse_add_to_set(field, value)?),
        Kind::Pull => Arg::Pull(parse_pull(field, value)?),
        Kind::PullAll => match value {
            Bson::Array(items) => Arg::PullAll(items.clone()),
            other => {
                return Err(err(format!(
                    "$pullAll requires an array argument but was given a {}",
                    type_name(other)
                )))
            }
        },
        Kind::Pop => match whole_number(value) {
            Some(1) => Arg::Pop { front: false },
            Some(-1) => Arg::Pop { front: true },
            _ => return Err(err("$pop expects 1 or -1".into())),
        },
        Kind::Bit => Arg::Bit(parse_bit(field, value)?),
        Kind::Unset => Arg::None,
        Kind::Set | Kind::SetOnInsert | Kind::Min | Kind::Max | Kind::Rename => {
            Arg::Value(value.clone())
        }
    })
}

fn parse_push(field: &str, value: &Bson) -> Result<Push, UpdateError> {
    let err = |m: String| UpdateError::new(field, m);
    let one = |v: &Bson| Push {
        each: vec![v.clone()],
        slice: None,
        sort: None,
        position: None,
    };
    let Bson::Document(d) = value else {
        return Ok(one(value));
    };
    let Some(each) = d.get("$each") else {
        return Ok(one(value));
    };
    let Bson::Array(each) = each else {
        return Err(err(format!(
            "The argument to $each in $push must be an array but it was of type: {}",
            type_name(each)
        )));
    };
    let mut push = Push {
        each: each.clone(),
        slice: None,
        sort: None,
        position: None,
    };
    for (clause, v) in d {
        match clause.as_str() {
            "$each" => {}
            "$slice" => {
                push.slice = Some(whole_number(v).ok_or_else(|| {
                    err(format!(
                        "The value for $slice must be an integer value but was given type: {}",
                        type_name(v)
                    ))
                })?)
            }
            "$position" => {
                push.position = Some(whole_number(v).ok_or_else(|| {
                    err(format!(
                        "The value for $position must be an integer value, not of type: {}",
                        type_name(v)
                    ))
                })?)
            }
            "$sort" => push.sort = Some(parse_sort(field, v)?),
            other => return Err(err(format!("Unrecognized clause in $push: {other}"))),
        }
    }
    Ok(push)
}

/// `1` or `-1` as any number (JavaScript clients send doubles).
fn direction(v: &Bson) -> Option<bool> {
    match number_value(v) {
        Some(1.0) => Some(false),
        Some(-1.0) => Some(true),
        _ => None,
    }
}

fn parse_sort(field: &str, v: &Bson) -> Result<PushSort, UpdateError> {
    let err = |m: &str| UpdateError::new(field, m);
    match v {
        Bson::Document(keys) => {
            if keys.is_empty() {
                return Err(err(
                    "The $sort pattern is empty when it should be a set of fields.",
                ));
            }
            let mut fields = Vec::with_capacity(keys.len());
            for (key, order) in keys {
                let descending = direction(order)
                    .ok_or_else(|| err("The $sort element value must be either 1 or -1"))?;
                if key.is_empty() {
                    return Err(err("The $sort field cannot be empty"));
                }
                if key.split('.').any(str::is_empty) {
                    return Err(err("The $sort field is a dotted field but has an empty part"));
                }
                fields.push((FieldPath::parse(key), descending));
            }
            Ok(PushSort::Fields(fields))
        }
        other if number_value(other).is_some() => match direction(other) {
            Some(descending) => Ok(PushSort::Whole { descending }),
            None => Err(err("The $sort element value must be either 1 or -1")),
        },
        _ => Err(err(
            "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields",
        )),
    }
}

fn parse_add_to_set(field: &str, value: &Bson) -> Result<Vec<Bson>, UpdateError> {
    let Bson::Document(d) = value else {
        return Ok(vec![value.clone()]);
    };
    let Some(each) = d.get("$each") else {
        return Ok(vec![value.clone()]);
    };
    let Bson::Array(each) = each else {
        return Err(UpdateError::new(
            field,
            format!(
                "The argument to $each in $addToSet must be an array but it was of type {}",
                type_name(each)
            ),
        ));
    };
    if d.len() > 1 {
        return Err(UpdateError::new(
            field,
            "Found unexpected fields after $each in $addToSet",
        ));
    }
    Ok(each.clone())
}

/// Query operators that apply to a value (`{$pull: {a: {$gt: 1}}}` tests each element with
/// them); any other object is a query on elements that are documents.
const VALUE_OPERATORS: &[&str] = &[
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$exists",
    "$type",
    "$size",
    "$all",
    "$elemMatch",
    "$mod",
    "$regex",
    "$options",
    "$not",
    "$bitsAllSet",
    "$bitsAllClear",
    "$bitsAnySet",
    "$bitsAnyClear",
    "$geoWithin",
    "$geoIntersects",
    "$near",
    "$nearSphere",
    "$within",
];

fn parse_pull(field: &str, value: &Bson) -> Result<PullCondition, UpdateError> {
    let err = |e: crate::query::QueryError| UpdateError::new(field, e.message);
    match value {
        Bson::Document(d)
            if d.keys()
                .next()
                .is_some_and(|k| VALUE_OPERATORS.contains(&k.as_str())) =>
        {
            let mut wrapped = Document::new();
            wrapped.insert("", value.clone());
            Ok(PullCondition::Wrapped(
                Filter::parse(&wrapped).map_err(err)?,
            ))
        }
        Bson::RegularExpression(_) => {
            let mut wrapped = Document::new();
            wrapped.insert("", value.clone());
            Ok(PullCondition::Wrapped(
                Filter::parse(&wrapped).map_err(err)?,
            ))
        }
        Bson::Document(d) => Ok(PullCondition::Query(Filter::parse(d).map_err(err)?)),
        other => Ok(PullCondition::Equals(other.clone())),
    }
}

fn parse_bit(field: &str, value: &Bson) -> Result<Vec<(BitOp, Bson)>, UpdateError> {
    let err = |m: String| UpdateError::new(field, m);
    let Bson::Document(d) = value else {
        return Err(err(format!(
            "The $bit modifier is not compatible with a {}. You must pass in an embedded document: {{$bit: {{field: {{and/or/xor: #}}}}",
            type_name(value)
        )));
    };
    let mut ops = Vec::with_capacity(d.len());
    for (name, operand) in d {
        let op = match name.as_str() {
            "and" => BitOp::And,
            "or" => BitOp::Or,
            "xor" => BitOp::Xor,
            other => {
                return Err(err(format!(
                    "The $bit modifier only supports 'and', 'or', and 'xor', not '{other}' which is an unknown operator"
                )))
            }
        };
        if !matches!(operand, Bson::Int32(_) | Bson::Int64(_)) {
            return Err(err(format!(
                "The $bit modifier field must be an Integer(32/64 bit); a '{}' is not supported here",
                type_name(operand)
            )));
        }
        ops.push((op, operand.clone()));
    }
    if ops.is_empty() {
        return Err(err(
            "You must pass in at least one bitwise operation. The format is: {$bit: {field: {and/or/xor: #}}}".into(),
        ));
    }
    Ok(ops)
}

fn number_value(v: &Bson) -> Option<f64> {
    match v {
        Bson::Int32(i) => Some(f64::from(*i)),
        Bson::Int64(i) => Some(*i as f64),
        Bson::Double(d) => Some(*d),
        Bson::Decimal128(d) => Some(crate::query::order::decimal_to_f64(d)),
        _ => None,
    }
}

/// A number with no fractional part, as MongoDB reads `$slice`, `$position` and `$pop`.
fn whole_number(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(_) | Bson::Decimal128(_) => {
            let d = number_value(v)?;
            (d.is_finite() && d.fract() == 0.0 && d.abs() < 9.2e18).then_some(d as i64)
        }
        _ => None,
    }
}

/// What applying a leaf needs besides the document.
pub(crate) struct Context {
    pub(crate) inserting: bool,
}

impl Leaf {
    /// Applies the leaf at the concrete path `at`.
    pub(crate) fn apply(
        &self,
        doc: &mut Document,
        at: &[String],
        ctx: &Context,
    ) -> Result<(), UpdateError> {
        if self.kind == Kind::SetOnInsert && !ctx.inserting {
            return Ok(());
        }
        if let Arg::RenameFrom(from) = &self.arg {
            return rename(doc, from, at, ctx);
        }
        let dotted = at.join(".");
        let existing = path::existing_prefix(doc, at);
        if existing == at.len() {
            check_storable(at, at.len(), self.kind, ctx)?;
            let Some(slot) = path::get_mut(doc, at) else {
                return Err(UpdateError::new(dotted, "the field cannot be reached"));
            };
            return match self.update_existing(slot, at)? {
                Change::Keep => Ok(()),
                Change::Remove => {
                    path::remove(doc, at);
                    Ok(())
                }
            };
        }
        if self.kind.creates() {
            check_storable(at, existing + 1, self.kind, ctx)?;
            let value = self.new_value(at)?;
            return path::create(doc, at, existing, value);
        }
        if self.kind == Kind::Unset {
            return Ok(());
        }
        path::check_viable(doc, at, existing)
    }

    /// The value the operator gives a field that does not exist yet.
    fn new_value(&self, at: &[String]) -> Result<Bson, UpdateError> {
        let dotted = at.join(".");
        Ok(match (&self.kind, &self.arg) {
            (Kind::Mul, Arg::Value(v)) => number::zero_times(v)
                .ok_or_else(|| UpdateError::new(dotted, "Failed to apply $mul operations"))?,
            (Kind::Bit, Arg::Bit(ops)) => number::bits(&Bson::Int32(0), ops)
                .ok_or_else(|| UpdateError::new(dotted, "Failed to apply $bit operations"))?,
            (_, Arg::Value(v)) => v.clone(),
            (_, Arg::CurrentDate { timestamp }) => now(*timestamp),
            (_, Arg::Push(push)) => {
                let mut items = Vec::new();
                push.apply(&mut items, &dotted);
                Bson::Array(items)
            }
            (_, Arg::AddToSet(values)) => {
                let mut items = Vec::new();
                add_to_set(&mut items, values);
                Bson::Array(items)
            }
            _ => {
                return Err(UpdateError::new(
                    dotted,
                    "malformed update operator argument",
                ))
            }
        })
    }

    fn update_existing(&self, slot: &mut Bson, at: &[String]) -> Result<Change, UpdateError> {
        let dotted = at.join(".");
        let field = at.last().cloned().unwrap_or_default();
        match (&self.kind, &self.arg) {
            (Kind::Unset, _) => return Ok(Change::Remove),
            (Kind::Set | Kind::SetOnInsert, Arg::Value(v)) => *slot = v.clone(),
            (Kind::CurrentDate, Arg::CurrentDate { timestamp }) => *slot = now(*timestamp),
            (Kind::Inc | Kind::Mul, Arg::Value(v)) => {
                let op = if self.kind == Kind::Inc {
                    Arith::Add
                } else {
                    Arith::Mul
                };
                if !number::is_number(slot) {
                    return Err(UpdateError::new(
                        dotted,
                        format!(
                            "Cannot apply {} to a value of non-numeric type. The field '{field}' is of non-numeric type {}",
                            self.kind.name(),
                            type_name(slot)
                        ),
                    ));
                }
                *slot = number::arith(op, slot, v).ok_or_else(|| {
                    UpdateError::new(
                        dotted,
                        format!(
                            "Failed to apply {} operations to current value: integer overflow",
                            self.kind.name()
                        ),
                    )
                })?;
            }
            (Kind::Min | Kind::Max, Arg::Value(v)) => {
                let order = compare_values(v, slot);
                let replace = match self.kind {
                    Kind::Min => order == Ordering::Less,
                    _ => order == Ordering::Greater,
                };
                if replace {
                    *slot = v.clone();
                }
            }
            (Kind::Bit, Arg::Bit(ops)) => {
                if !matches!(slot, Bson::Int32(_) | Bson::Int64(_)) {
                    return Err(UpdateError::new(
                        dotted,
                        format!(
                            "Cannot apply $bit to a value of non-integral type. The field '{field}' is of non-integer type {}",
                            type_name(slot)
                        ),
                    ));
                }
                *slot = number::bits(slot, ops)
                    .ok_or_else(|| UpdateError::new(dotted, "Failed to apply $bit operations"))?;
            }
            (Kind::Push, Arg::Push(push)) => {
                let Bson::Array(items) = slot else {
                    return Err(UpdateError::new(
                        dotted.clone(),
                        format!(
                            "The field '{dotted}' must be an array but is of type {} in document",
                            type_name(slot)
                        ),
                    ));
                };
                push.apply(items, &dotted);
            }
            (Kind::AddToSet, Arg::AddToSet(values)) => {
                let Bson::Array(items) = slot else {
                    return Err(UpdateError::new(
                        dotted,
                        format!(
                            "Cannot apply $addToSet to non-array field. Field named '{field}' has non-array type {}",
                            type_name(slot)
                        ),
                    ));
                };
                add_to_set(items, values);
            }
            (Kind::Pull | Kind::PullAll, _) => {
                let Bson::Array(items) = slot else {
                    return Err(UpdateError::new(
                        dotted,
                        format!("Cannot apply {} to a non-array value", self.kind.name()),
                    ));
                };
                match &self.arg {
                    Arg::Pull(condition) => items.retain(|item| !condition.matches(item)),
                    Arg::PullAll(values) => {
                        items.retain(|item| !values.iter().any(|v| values_equal(item, v)))
                    }
                    _ => {}
                }
            }
            (Kind::Pop, Arg::Pop { front }) => {
                let Bson::Array(items) = slot else {
                    return Err(UpdateError::new(
                        dotted.clone(),
                        format!(
                            "Path '{dotted}' contains an element of non-array type '{}'",
                            type_name(slot)
                        ),
                    ));
                };
                if !items.is_empty() {
                    if *front {
                        items.remove(0);
                    } else {
                        items.pop();
                    }
                }
            }
            _ => {
                return Err(UpdateError::new(
                    dotted,
                    "malformed update operator argument",
                ))
            }
        }
        Ok(Change::Keep)
    }
}

enum Change {
    Keep,
    Remove,
}

/// A field whose name starts with `$` may not be written at the top level of a stored
/// document (an upsert's new document aside).
fn check_storable(
    at: &[String],
    level: usize,
    kind: Kind,
    ctx: &Context,
) -> Result<(), UpdateError> {
    let writes = !matches!(kind, Kind::Unset | Kind::Pull | Kind::PullAll | Kind::Pop);
    match at.first() {
        Some(name) if writes && level == 1 && !ctx.inserting && name.starts_with('$') => {
            Err(UpdateError::new(
                name.clone(),
                format!(
                    "The dollar ($) prefixed field '{name}' in '{name}' is not valid for storage."
                ),
            ))
        }
        _ => Ok(()),
    }
}

fn now(timestamp: bool) -> Bson {
    let now = bson::DateTime::now();
    if timestamp {
        Bson::Timestamp(bson::Timestamp {
            time: (now.timestamp_millis() / 1000) as u32,
            increment: 1,
        })
    } else {
        Bson::DateTime(now)
    }
}

fn add_to_set(items: &mut Vec<Bson>, values: &[Bson]) {
    for v in values {
        if !items.iter().any(|i| values_equal(i, v)) {
            items.push(v.clone());
        }
    }
}

impl Push {
    fn apply(&self, items: &mut Vec<Bson>, _field: &str) {
        let len = items.len() as i64;
        let at = match self.position {
            None => items.len(),
            Some(p) if p > len => items.len(),
            Some(p) if p >= 0 => p as usize,
            Some(p) if p.unsigned_abs() < len as u64 => (len - p.unsigned_abs() as i64) as usize,
            Some(_) => 0,
        };
        items.splice(at..at, self.each.iter().cloned());
        if let Some(sort) = &self.sort {
            sort.sort(items);
        }
        if let Some(n) = self.slice {
            let keep = n.unsigned_abs().min(usize::MAX as u64) as usize;
            if items.len() > keep {
                if n >= 0 {
                    items.truncate(keep);
                } else {
                    items.drain(..items.len() - keep);
                }
            }
        }
    }
}

impl PushSort {
    fn sort(&self, items: &mut [Bson]) {
        match self {
            PushSort::Whole { descending } => items.sort_by(|a, b| {
                let o = compare_values(a, b);
                if *descending {
                    o.reverse()
                } else {
                    o
                }
            }),
            PushSort::Fields(keys) => items.sort_by(|a, b| {
                for (path, descending) in keys {
                    let key = |v: &Bson| match v {
                        Bson::Document(d) => {
                            path::get(d, path.parts()).cloned().unwrap_or(Bson::Null)
                        }
                        _ => Bson::Null,
                    };
                    let o = compare_values(&key(a), &key(b));
                    let o = if *descending { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            }),
        }
    }
}

impl PullCondition {
    fn matches(&self, item: &Bson) -> bool {
        match self {
            PullCondition::Equals(v) => values_equal(item, v),
            PullCondition::Wrapped(filter) => {
                let mut wrapped = Document::new();
                wrapped.insert("", item.clone());
                filter.matches(&wrapped)
            }
            PullCondition::Query(filter) => matches!(item, Bson::Document(d) if filter.matches(d)),
        }
    }
}

/// `$rename`: the source must exist and not lie inside an array; the target may not lie inside
/// an array either. The value moves to the target, then the source is removed.
fn rename(
    doc: &mut Document,
    from: &[String],
    to: &[String],
    ctx: &Context,
) -> Result<(), UpdateError> {
    let dotted = from.join(".");
    // The source: a path through anything but documents (or arrays by position) is refused.
    let mut current: Option<&Bson> = None;
    let mut through_array = false;
    for (i, part) in from.iter().enumerate() {
        let next = match current {
            None => doc.get(part),
            Some(Bson::Document(d)) => d.get(part),
            Some(Bson::Array(items)) => match path::position(part) {
                Some(p) => {
                    through_array = true;
                    items.get(p)
                }
                None => return Err(traverse_error(from, i)),
            },
            Some(other) => {
                return Err(UpdateError::new(
                    dotted.clone(),
                    format!(
                        "cannot use the part ({} of {dotted}) to traverse the element ({{{}: {}}})",
                        from[i - 1],
                        from[i - 1],
                        type_name(other)
                    ),
                ))
            }
        };
        match next {
            Some(v) => current = Some(v),
            None => return Ok(()),
        }
    }
    let Some(value) = current.cloned() else {
        return Ok(());
    };
    if through_array {
        return Err(UpdateError::new(
            dotted,
            format!(
                "The source field cannot be an array element, '{}' has an array along its path",
                from.join(".")
            ),
        ));
    }
    if from.first().is_some_and(|f| f == "_id") {
        return Err(UpdateError::new(
            dotted,
            format!(
                "Unsetting the path '{}' using $rename would modify the immutable field '_id'",
                from.join(".")
            ),
        ));
    }
    // The target: no array above it, whether it exists or is created.
    let existing = path::existing_prefix(doc, to);
    let above = if existing == to.len() {
        existing - 1
    } else {
        existing
    };
    for depth in 1..=above {
        if matches!(path::get(doc, &to[..depth]), Some(Bson::Array(_))) {
            return Err(UpdateError::new(
                to.join("."),
                format!(
                    "The destination field cannot be an array element, '{}' has an array along its path",
                    to.join(".")
                ),
            ));
        }
    }
    check_storable(
        to,
        if existing == to.len() {
            to.len()
        } else {
            existing + 1
        },
        Kind::Set,
        ctx,
    )?;
    if existing == to.len() {
        if let Some(slot) = path::get_mut(doc, to) {
            *slot = value;
        }
    } else {
        path::create(doc, to, existing, value)?;
    }
    path::remove(doc, from);
    Ok(())
}

fn traverse_error(from: &[String], i: usize) -> UpdateError {
    let dotted = from.join(".");
    UpdateError::new(
        dotted.clone(),
        format!(
            "cannot use the part ({} of {dotted}) to traverse the element ({{{}: array}})",
            from[i],
            from[i - 1]
        ),
    )
}
