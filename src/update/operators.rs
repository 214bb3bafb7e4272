//! The update operators: each `{"$op": {path: argument}}` entry parsed into a [`Leaf`], and a
//! leaf applied at one concrete path of a document.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::arrays::{self, PullCondition, Push};
use super::number::{self, Arith, BitOp};
use super::path::{self, type_name, UpdatePath};
use super::rename;
use super::UpdateError;
use crate::query::{compare_values, values_equal};

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
                let (from, to) = rename::parse_rename(field, value)?;
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
        Kind::Push => Arg::Push(arrays::parse_push(field, value)?),
        Kind::AddToSet => Arg::AddToSet(arrays::parse_add_to_set(field, value)?),
        Kind::Pull => Arg::Pull(arrays::parse_pull(field, value)?),
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

pub(crate) fn number_value(v: &Bson) -> Option<f64> {
    match v {
        Bson::Int32(i) => Some(f64::from(*i)),
        Bson::Int64(i) => Some(*i as f64),
        Bson::Double(d) => Some(*d),
        Bson::Decimal128(d) => Some(crate::query::order::decimal_to_f64(d)),
        _ => None,
    }
}

/// A number with no fractional part, as MongoDB reads `$slice`, `$position` and `$pop`.
pub(crate) fn whole_number(v: &Bson) -> Option<i64> {
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
pub(crate) struct Applying {
    pub(crate) inserting: bool,
}

impl Leaf {
    /// Applies the leaf at the concrete path `at`.
    pub(crate) fn apply(
        &self,
        doc: &mut Document,
        at: &[String],
        ctx: &Applying,
    ) -> Result<(), UpdateError> {
        if self.kind == Kind::SetOnInsert && !ctx.inserting {
            return Ok(());
        }
        if let Arg::RenameFrom(from) = &self.arg {
            return rename::apply(doc, from, at, ctx);
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
                arrays::add_to_set(&mut items, values);
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
                arrays::add_to_set(items, values);
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
pub(crate) fn check_storable(
    at: &[String],
    level: usize,
    kind: Kind,
    ctx: &Applying,
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
