//! BSON type selectors for `$type`: numeric codes and string aliases.

use bson::Bson;

/// One accepted `$type` operand: a concrete BSON type code or the `"number"` alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeSelector {
    /// A BSON type code (1 = double, 2 = string, …, -1 = minKey, 127 = maxKey).
    Code(i32),
    /// Any numeric type (`"number"`).
    Number,
}

const ALIASES: &[(&str, i32)] = &[
    ("double", 1),
    ("string", 2),
    ("object", 3),
    ("array", 4),
    ("binData", 5),
    ("undefined", 6),
    ("objectId", 7),
    ("bool", 8),
    ("date", 9),
    ("null", 10),
    ("regex", 11),
    ("dbPointer", 12),
    ("javascript", 13),
    ("symbol", 14),
    ("javascriptWithScope", 15),
    ("int", 16),
    ("timestamp", 17),
    ("long", 18),
    ("decimal", 19),
    ("minKey", -1),
    ("maxKey", 127),
];

impl TypeSelector {
    /// Parses a `$type` operand element: a type code (integral number) or an alias.
    ///
    /// ```
    /// use bson::Bson;
    /// use expanse::query::TypeSelector;
    /// assert_eq!(TypeSelector::parse(&Bson::String("int".into())), Ok(TypeSelector::Code(16)));
    /// assert_eq!(TypeSelector::parse(&Bson::Double(2.0)), Ok(TypeSelector::Code(2)));
    /// assert!(TypeSelector::parse(&Bson::String("integer".into())).is_err());
    /// ```
    pub fn parse(operand: &Bson) -> Result<TypeSelector, String> {
        match operand {
            Bson::String(alias) if alias == "number" => Ok(TypeSelector::Number),
            Bson::String(alias) => ALIASES
                .iter()
                .find(|(name, _)| name == alias)
                .map(|(_, code)| TypeSelector::Code(*code))
                .ok_or_else(|| format!("unknown type name alias: {alias}")),
            other => {
                let code = match other {
                    Bson::Int32(i) => i64::from(*i),
                    Bson::Int64(i) => *i,
                    Bson::Double(d) if d.fract() == 0.0 && d.is_finite() => *d as i64,
                    _ => {
                        return Err(format!(
                            "type must be represented as a number or a string, got {other}"
                        ))
                    }
                };
                if ALIASES.iter().any(|(_, c)| i64::from(*c) == code) {
                    Ok(TypeSelector::Code(code as i32))
                } else {
                    Err(format!("invalid numerical type code: {code}"))
                }
            }
        }
    }

    /// Whether a present value has this type.
    pub fn matches(self, value: &Bson) -> bool {
        match self {
            TypeSelector::Number => matches!(
                value,
                Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_)
            ),
            TypeSelector::Code(code) => type_code(value) == code,
        }
    }
}

/// The BSON type code of a value.
pub fn type_code(value: &Bson) -> i32 {
    match value {
        Bson::Double(_) => 1,
        Bson::String(_) => 2,
        Bson::Document(_) => 3,
        Bson::Array(_) => 4,
        Bson::Binary(_) => 5,
        Bson::Undefined => 6,
        Bson::ObjectId(_) => 7,
        Bson::Boolean(_) => 8,
        Bson::DateTime(_) => 9,
        Bson::Null => 10,
        Bson::RegularExpression(_) => 11,
        Bson::DbPointer(_) => 12,
        Bson::JavaScriptCode(_) => 13,
        Bson::Symbol(_) => 14,
        Bson::JavaScriptCodeWithScope(_) => 15,
        Bson::Int32(_) => 16,
        Bson::Timestamp(_) => 17,
        Bson::Int64(_) => 18,
        Bson::Decimal128(_) => 19,
        Bson::MinKey => -1,
        Bson::MaxKey => 127,
    }
}

/// MongoDB's name for a value's type, as `$type` and its error messages give it.
///
/// ```
/// use bson::Bson;
/// assert_eq!(expanse::query::type_alias(&Bson::Int64(1)), "long");
/// assert_eq!(expanse::query::type_alias(&Bson::Document(Default::default())), "object");
/// ```
pub fn type_alias(value: &Bson) -> &'static str {
    match value {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(_) => "binData",
        Bson::Undefined => "undefined",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::DbPointer(_) => "dbPointer",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::Symbol(_) => "symbol",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
    }
}
