//! MongoDB Extended JSON (canonical and relaxed) from located JSON into BSON.

use bson::{Bson, Document};

use super::{Json, JsonError, JsonKind};

/// Keys that make an object an Extended JSON value rather than a document.
const EXTENDED_KEYS: &[&str] = &[
    "$oid",
    "$symbol",
    "$regularExpression",
    "$numberInt",
    "$numberLong",
    "$numberDouble",
    "$numberDecimal",
    "$binary",
    "$uuid",
    "$code",
    "$scope",
    "$timestamp",
    "$date",
    "$minKey",
    "$maxKey",
    "$dbPointer",
    "$undefined",
];

/// Whether an object is an Extended JSON value (`{"$oid": …}`, `{"$date": …}`, …).
///
/// Query operators that share a name with legacy Extended JSON (`$regex`, `$type`) are not
/// treated as Extended JSON, so query documents keep their meaning.
pub fn is_extended_value(json: &Json) -> bool {
    match &json.kind {
        JsonKind::Object(members) if !members.is_empty() => members
            .iter()
            .all(|m| EXTENDED_KEYS.contains(&m.key.as_str())),
        _ => false,
    }
}

/// Converts located JSON into BSON, reading Extended JSON wrappers.
///
/// ```
/// let json = expanse::json::parse(r#"{"_id": {"$oid": "5f1f1f1f1f1f1f1f1f1f1f1f"}, "n": 5}"#, "doc.json").unwrap();
/// let value = expanse::json::to_bson(&json).unwrap();
/// assert!(matches!(value.as_document().unwrap().get("_id"), Some(bson::Bson::ObjectId(_))));
/// ```
pub fn to_bson(json: &Json) -> Result<Bson, JsonError> {
    match &json.kind {
        JsonKind::Null => Ok(Bson::Null),
        JsonKind::Bool(b) => Ok(Bson::Boolean(*b)),
        JsonKind::Number(text) => number(text).ok_or_else(|| JsonError {
            at: json.at.clone(),
            message: format!("number {text} is out of range"),
        }),
        JsonKind::String(s) => Ok(Bson::String(s.clone())),
        JsonKind::Array(items) => Ok(Bson::Array(
            items.iter().map(to_bson).collect::<Result<_, _>>()?,
        )),
        JsonKind::Object(members) => {
            if is_extended_value(json) {
                let value = to_serde(json);
                return Bson::try_from(value).map_err(|e| JsonError {
                    at: json.at.clone(),
                    message: format!("invalid Extended JSON {}: {e}", json.to_compact()),
                });
            }
            let mut doc = Document::new();
            for m in members {
                doc.insert(m.key.clone(), to_bson(&m.value)?);
            }
            Ok(Bson::Document(doc))
        }
    }
}

/// Converts located JSON that must be an object into a BSON document.
pub fn to_document(json: &Json) -> Result<Document, JsonError> {
    match to_bson(json)? {
        Bson::Document(doc) => Ok(doc),
        _ => Err(JsonError {
            at: json.at.clone(),
            message: format!("expected an object, found {}", json.kind_name()),
        }),
    }
}

/// A JSON number as BSON: integers as int32 when they fit, else int64, else double.
pub(crate) fn number(text: &str) -> Option<Bson> {
    let integral = !text.contains(['.', 'e', 'E']);
    if integral {
        if let Ok(i) = text.parse::<i64>() {
            return Some(i32::try_from(i).map(Bson::Int32).unwrap_or(Bson::Int64(i)));
        }
    }
    text.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Bson::Double)
}

fn to_serde(json: &Json) -> serde_json::Value {
    match &json.kind {
        JsonKind::Null => serde_json::Value::Null,
        JsonKind::Bool(b) => serde_json::Value::Bool(*b),
        JsonKind::Number(text) => serde_json::from_str(text).unwrap_or(serde_json::Value::Null),
        JsonKind::String(s) => serde_json::Value::String(s.clone()),
        JsonKind::Array(items) => serde_json::Value::Array(items.iter().map(to_serde).collect()),
        JsonKind::Object(members) => serde_json::Value::Object(
            members
                .iter()
                .map(|m| (m.key.clone(), to_serde(&m.value)))
                .collect(),
        ),
    }
}
