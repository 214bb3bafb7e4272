//! How BSON values cross to JavaScript and back, exactly.
//!
//! Values travel as JSON text in an encoding of Expanse's own: strings, booleans, null, arrays
//! and documents as themselves, Int32 as a JSON integer, and every other type as an object
//! with the single key `"\0"` holding `[type, ...payload]`. A BSON field name can never be
//! `"\0"` (BSON field names are C strings), so a document is never mistaken for a tagged value,
//! whatever its keys (`$oid`, `$regex`, `__proto__`…). The prelude (`prelude.js`) turns the
//! tagged values into `Date`, `RegExp`, `BSON.Long`, `BSON.Double`… and back.

use std::fmt::Write as _;

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Decimal128, Document, JavaScriptCodeWithScope, Regex, Timestamp};
use serde_json::{json, Map, Value};

use crate::limits::MAX_DEPTH;

/// The key of a tagged value.
const TAG: &str = "\0";

/// JavaScript's `Date` range: ±8.64e15 ms around 1970.
pub const JS_DATE_LIMIT_MS: i64 = 8_640_000_000_000_000;

/// A value that cannot cross between BSON and JavaScript, and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem} (at {path})")]
pub struct BridgeError {
    /// Where the value is: `result.a.b`, `arguments[0].when`…
    pub path: String,
    /// What is wrong with it.
    pub problem: Problem,
}

/// What is wrong with a value that cannot cross.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A date JavaScript's `Date` cannot hold.
    #[error("a date beyond JavaScript's Date range (±8.64e15 ms) cannot cross into JavaScript")]
    DateOutOfRange,
    /// A field name BSON cannot hold.
    #[error("a field name with a NUL character cannot cross")]
    NulInKey,
    /// Nested deeper than MongoDB allows.
    #[error("a document or array is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A value of a BSON type that is out of its range or badly formed (a Decimal128 beyond
    /// 34 digits, a Timestamp field changed to a fraction, a pattern with a NUL…).
    #[error("an invalid {0} cannot be converted to BSON")]
    Invalid(&'static str),
    /// Something the prelude never sends.
    #[error("a malformed value came from JavaScript: {0}")]
    Malformed(&'static str),
}

/// One step of a path.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Where the encoder or decoder is, rendered only for errors.
struct Path<'a> {
    root: &'a str,
    steps: Vec<Step<'a>>,
}

impl<'a> Path<'a> {
    fn new(root: &'a str) -> Path<'a> {
        Path {
            root,
            steps: Vec::new(),
        }
    }

    fn error(&self, problem: Problem) -> BridgeError {
        let mut path = self.root.to_owned();
        for step in &self.steps {
            let _ = match step {
                Step::Key(k) => write!(path, ".{k}"),
                Step::Index(i) => write!(path, "[{i}]"),
            };
        }
        BridgeError { path, problem }
    }

    /// Runs `f` one step deeper, refusing to go past [`MAX_DEPTH`] containers.
    fn enter<T>(
        &mut self,
        step: Step<'a>,
        f: impl FnOnce(&mut Path<'a>) -> Result<T, BridgeError>,
    ) -> Result<T, BridgeError> {
        self.steps.push(step);
        let out = f(self);
        self.steps.pop();
        out
    }

    fn check_depth(&self, containers: usize) -> Result<(), BridgeError> {
        if containers > MAX_DEPTH {
            return Err(self.error(Problem::TooDeep));
        }
        Ok(())
    }
}

fn tagged(parts: Value) -> Value {
    let mut map = Map::with_capacity(1);
    map.insert(TAG.to_owned(), parts);
    Value::Object(map)
}

/// A double as text JavaScript's `Number()` reads back exactly.
fn double_text(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        // Rust prints the shortest text that reads back as the same double, and `-0` for -0.0.
        format!("{d:?}")
    }
}

/// Encodes a value for JavaScript as JSON text; `root` names it in errors.
pub fn to_js_text(value: &Bson, root: &str) -> Result<String, BridgeError> {
    Ok(to_js(value, &mut Path::new(root), 0)?.to_string())
}

fn to_js<'a>(
    value: &'a Bson,
    path: &mut Path<'a>,
    containers: usize,
) -> Result<Value, BridgeError> {
    Ok(match value {
        Bson::Null => Value::Null,
        Bson::Boolean(b) => Value::Bool(*b),
        Bson::String(s) => Value::String(s.clone()),
        Bson::Int32(i) => json!(i),
        Bson::Double(d) => tagged(json!(["double", double_text(*d)])),
        Bson::Int64(i) => tagged(json!(["long", i.to_string()])),
        Bson::DateTime(d) => {
            let ms = d.timestamp_millis();
            if ms.abs() > JS_DATE_LIMIT_MS {
                return Err(path.error(Problem::DateOutOfRange));
            }
            tagged(json!(["date", ms]))
        }
        Bson::ObjectId(id) => tagged(json!(["oid", id.to_hex()])),
        Bson::RegularExpression(r) => {
            tagged(json!(["regex", r.pattern.as_str(), r.options.as_str()]))
        }
        Bson::Binary(b) => tagged(json!([
            "binary",
            u8::from(b.subtype),
            crate::hex::encode(&b.bytes)
        ])),
        Bson::Timestamp(t) => tagged(json!(["timestamp", t.time, t.increment])),
        Bson::Decimal128(d) => tagged(json!([
            "decimal",
            crate::hex::encode(&d.bytes()),
            d.to_string()
        ])),
        Bson::JavaScriptCode(code) => tagged(json!(["code", code])),
        Bson::JavaScriptCodeWithScope(c) => {
            let scope = document_to_js(&c.scope, path, containers + 1)?;
            tagged(json!(["code", c.code, scope]))
        }
        Bson::Symbol(s) => tagged(json!(["symbol", s])),
        Bson::Undefined => tagged(json!(["undefined"])),
        Bson::MinKey => tagged(json!(["minKey"])),
        Bson::MaxKey => tagged(json!(["maxKey"])),
        Bson::DbPointer(_) => db_pointer_to_js(value),
        Bson::Array(items) => {
            path.check_depth(containers + 1)?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(path.enter(Step::Index(i), |p| to_js(item, p, containers + 1))?);
            }
            Value::Array(out)
        }
        Bson::Document(d) => document_to_js(d, path, containers + 1)?,
    })
}

fn document_to_js<'a>(
    doc: &'a Document,
    path: &mut Path<'a>,
    containers: usize,
) -> Result<Value, BridgeError> {
    path.check_depth(containers)?;
    let mut out = Map::with_capacity(doc.len());
    for (key, value) in doc {
        let encoded = path.enter(Step::Key(key), |p| {
            if key.contains('\0') {
                return Err(p.error(Problem::NulInKey));
            }
            to_js(value, p, containers)
        })?;
        out.insert(key.clone(), encoded);
    }
    Ok(Value::Object(out))
}

/// A DBPointer's namespace and id, read from its Extended JSON (its fields are private).
fn db_pointer_to_js(value: &Bson) -> Value {
    let json = value.clone().into_canonical_extjson();
    let pointer = &json["$dbPointer"];
    tagged(json!([
        "dbPointer",
        pointer["$ref"],
        pointer["$id"]["$oid"]
    ]))
}

/// Decodes JSON text from the prelude into a value; `root` names it in errors.
pub fn from_js_text(text: &str, root: &str) -> Result<Bson, BridgeError> {
    let value: Value = serde_json::from_str(text).map_err(|_| BridgeError {
        path: root.to_owned(),
        problem: Problem::Malformed("not JSON, or nested too deeply to read"),
    })?;
    from_js_value(&value, root)
}

/// Decodes a value from the prelude, already read as JSON; `root` names it in errors.
pub fn from_js_value(value: &Value, root: &str) -> Result<Bson, BridgeError> {
    from_js(value, &mut Path::new(root), 0)
}

fn from_js<'a>(
    value: &'a Value,
    path: &mut Path<'a>,
    containers: usize,
) -> Result<Bson, BridgeError> {
    Ok(match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::String(s) => Bson::String(s.clone()),
        Value::Number(n) => n
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .map(Bson::Int32)
            .ok_or_else(|| path.error(Problem::Malformed("a bare number that is not an Int32")))?,
        Value::Array(items) => {
            path.check_depth(containers + 1)?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(path.enter(Step::Index(i), |p| from_js(item, p, containers + 1))?);
            }
            Bson::Array(out)
        }
        Value::Object(map) => match map.get(TAG) {
            Some(Value::Array(parts)) if map.len() == 1 => tagged_from_js(parts, path, containers)?,
            _ => Bson::Document(document_from_js(map, path, containers + 1)?),
        },
    })
}

fn document_from_js<'a>(
    map: &'a Map<String, Value>,
    path: &mut Path<'a>,
    containers: usize,
) -> Result<Document, BridgeError> {
    path.check_depth(containers)?;
    let mut out = Document::new();
    for (key, value) in map {
        let decoded = path.enter(Step::Key(key), |p| {
            if key.contains('\0') {
                return Err(p.error(Problem::NulInKey));
            }
            from_js(value, p, containers)
        })?;
        out.insert(key.clone(), decoded);
    }
    Ok(out)
}

fn tagged_from_js<'a>(
    parts: &'a [Value],
    path: &mut Path<'a>,
    containers: usize,
) -> Result<Bson, BridgeError> {
    let malformed = |what: &'static str| path.error(Problem::Malformed(what));
    let text = |i: usize| parts.get(i).and_then(Value::as_str);
    let number = |i: usize| parts.get(i).and_then(Value::as_i64);
    let kind = text(0).ok_or_else(|| malformed("a tagged value without a type"))?;
    let value = match kind {
        "double" => text(1)
            .and_then(|t| t.parse::<f64>().ok())
            .map(Bson::Double),
        "long" => text(1).and_then(|t| t.parse::<i64>().ok()).map(Bson::Int64),
        "date" => number(1)
            .filter(|ms| ms.abs() <= JS_DATE_LIMIT_MS)
            .map(|ms| Bson::DateTime(bson::DateTime::from_millis(ms))),
        "oid" => text(1)
            .and_then(|t| bson::oid::ObjectId::parse_str(t).ok())
            .map(Bson::ObjectId),
        "regex" => regex_from_js(text(1), text(2)),
        "binary" => binary_from_js(number(1), text(2)),
        "timestamp" => match (number(1), number(2)) {
            (Some(t), Some(i)) => u32::try_from(t)
                .ok()
                .zip(u32::try_from(i).ok())
                .map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
            _ => None,
        },
        "decimal" => decimal_from_js(parts.get(1), text(2)),
        "code" => match parts.get(2) {
            None => text(1).map(|c| Bson::JavaScriptCode(c.to_owned())),
            Some(Value::Object(scope)) => {
                let code = text(1).ok_or_else(|| malformed("code without text"))?;
                let scope = document_from_js(scope, path, containers + 1)?;
                Some(Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
                    code: code.to_owned(),
                    scope,
                }))
            }
            Some(_) => None,
        },
        "symbol" => text(1).map(|s| Bson::Symbol(s.to_owned())),
        "undefined" => Some(Bson::Undefined),
        "minKey" => Some(Bson::MinKey),
        "maxKey" => Some(Bson::MaxKey),
        "dbPointer" => db_pointer_from_js(text(1), text(2)),
        _ => None,
    };
    value.ok_or_else(|| path.error(Problem::Invalid(type_name(kind))))
}

/// The BSON type a tag stands for, for errors.
fn type_name(kind: &str) -> &'static str {
    match kind {
        "double" => "Double",
        "long" => "Int64",
        "date" => "Date",
        "oid" => "ObjectId",
        "regex" => "regular expression",
        "binary" => "Binary",
        "timestamp" => "Timestamp",
        "decimal" => "Decimal128",
        "code" => "Code",
        "symbol" => "Symbol",
        "dbPointer" => "DBPointer",
        _ => "value",
    }
}

fn regex_from_js(pattern: Option<&str>, options: Option<&str>) -> Option<Bson> {
    let mut options: Vec<char> = options?.chars().collect();
    if !options.iter().all(|c| "ilmsux".contains(*c)) {
        return None;
    }
    options.sort_unstable();
    options.dedup();
    Some(Bson::RegularExpression(Regex {
        pattern: pattern?.to_owned().try_into().ok()?,
        options: options.into_iter().collect::<String>().try_into().ok()?,
    }))
}

fn binary_from_js(subtype: Option<i64>, bytes: Option<&str>) -> Option<Bson> {
    let subtype = u8::try_from(subtype?).ok()?;
    Some(Bson::Binary(Binary {
        subtype: BinarySubtype::from(subtype),
        bytes: crate::hex::decode(bytes?)?,
    }))
}

/// A Decimal128 from its exact bytes when JavaScript kept them, else from its text.
fn decimal_from_js(bytes: Option<&Value>, text: Option<&str>) -> Option<Bson> {
    if let Some(bytes) = bytes.and_then(Value::as_str) {
        let bytes: [u8; 16] = crate::hex::decode(bytes)?.try_into().ok()?;
        return Some(Bson::Decimal128(Decimal128::from_bytes(bytes)));
    }
    text?.parse::<Decimal128>().ok().map(Bson::Decimal128)
}

fn db_pointer_from_js(namespace: Option<&str>, id: Option<&str>) -> Option<Bson> {
    let json = json!({"$dbPointer": {"$ref": namespace?, "$id": {"$oid": id?}}});
    Bson::try_from(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{bson, doc};

    fn round_trip(value: Bson) -> Bson {
        from_js_text(&to_js_text(&value, "v").unwrap(), "v").unwrap()
    }

    #[test]
    fn values_round_trip_through_the_encoding() {
        let value = bson!({
            "$oid": "not an id",
            "__proto__": {"$regex": "x"},
            "d": -0.0,
            "n": f64::NAN,
            "big": 1e300,
            "l": i64::MIN,
            "u": Bson::Undefined,
            "code": Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope { code: "x".into(), scope: doc! {"a": 1} }),
        });
        let back = round_trip(value.clone());
        let back = back.as_document().unwrap();
        let sent = value.as_document().unwrap();
        assert_eq!(
            back.keys().collect::<Vec<_>>(),
            sent.keys().collect::<Vec<_>>()
        );
        assert_eq!(back.get_f64("d").unwrap().to_bits(), (-0.0f64).to_bits());
        assert!(back.get_f64("n").unwrap().is_nan());
        assert_eq!(back.get("l"), sent.get("l"));
        assert_eq!(back.get("__proto__"), sent.get("__proto__"));
        assert_eq!(back.get("code"), sent.get("code"));
    }

    #[test]
    fn refusals_name_the_path() {
        let far = bson::DateTime::from_millis(JS_DATE_LIMIT_MS + 1);
        let err = to_js_text(&bson!({"a": [1, {"when": far}]}), "arguments").unwrap_err();
        assert_eq!(err.path, "arguments.a[1].when");
        assert_eq!(err.problem, Problem::DateOutOfRange);
        let mut deep = bson!(1);
        for _ in 0..=MAX_DEPTH {
            deep = bson!([deep]);
        }
        assert_eq!(
            to_js_text(&deep, "v").unwrap_err().problem,
            Problem::TooDeep
        );
        let err = from_js_text(r#"{"a": {"\u0000": ["long", "x"]}}"#, "result").unwrap_err();
        assert_eq!(err.path, "result.a");
    }
}
