//! Canonical Extended JSON text written straight from BSON, without the `serde_json::Value` tree
//! `Bson::into_canonical_extjson` builds: the same text, byte for byte (a test compares them on
//! every BSON type and the numbers' edge cases), with one allocation per response instead of
//! several per field. The server encodes its responses with it.
//!
//! ```
//! use bson::{doc, Bson};
//!
//! let value = Bson::Document(doc! {"n": 1, "x": 2.5, "s": "é\"", "a": [1_i64]});
//! assert_eq!(
//!     expanse::json::canonical::to_string(&value),
//!     value.clone().into_canonical_extjson().to_string()
//! );
//! ```

use bson::{Bson, Document};

/// `value` as canonical Extended JSON text.
pub fn to_string(value: &Bson) -> String {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out);
    // Only UTF-8 is written: string contents come from `&str` and serde_json's escaping.
    String::from_utf8(out).unwrap_or_default()
}

fn write_value(value: &Bson, out: &mut Vec<u8>) {
    match value {
        Bson::Document(doc) => write_document(doc, out),
        Bson::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Bson::String(s) => write_str(s, out),
        Bson::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Bson::Null => out.extend_from_slice(b"null"),
        Bson::Int32(i) => wrapped(out, "$numberInt", &i.to_string()),
        Bson::Int64(i) => wrapped(out, "$numberLong", &i.to_string()),
        Bson::Double(f) if f.is_normal() => {
            let mut s = f.to_string();
            if f.fract() == 0.0 {
                s.push_str(".0");
            }
            wrapped(out, "$numberDouble", &s);
        }
        Bson::Double(f) if *f == 0.0 => {
            wrapped(
                out,
                "$numberDouble",
                if f.is_sign_negative() { "-0.0" } else { "0.0" },
            );
        }
        Bson::DateTime(date) => {
            out.extend_from_slice(b"{\"$date\":");
            wrapped(out, "$numberLong", &date.timestamp_millis().to_string());
            out.push(b'}');
        }
        Bson::ObjectId(id) => wrapped(out, "$oid", &id.to_hex()),
        // The rest (rare in responses) as the crate writes them.
        other => {
            let text = other.clone().into_canonical_extjson().to_string();
            out.extend_from_slice(text.as_bytes());
        }
    }
}

fn write_document(doc: &Document, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (key, value)) in doc.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(key, out);
        out.push(b':');
        write_value(value, out);
    }
    out.push(b'}');
}

/// `{"<key>":"<text>"}`.
fn wrapped(out: &mut Vec<u8>, key: &str, text: &str) {
    out.push(b'{');
    write_str(key, out);
    out.push(b':');
    write_str(text, out);
    out.push(b'}');
}

/// A JSON string, escaped as serde_json escapes it.
fn write_str(s: &str, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail, and a &str always serializes.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::oid::ObjectId;
    use bson::spec::BinarySubtype;
    use bson::{doc, Binary, DateTime, Decimal128, Regex, Timestamp};

    fn same(value: Bson) {
        assert_eq!(
            to_string(&value),
            value.clone().into_canonical_extjson().to_string(),
            "{value:?}"
        );
    }

    #[test]
    fn writes_what_the_crate_writes_for_every_type() {
        let doubles = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            2.5,
            1e300,
            -1e-300,
            5e-324,
            f64::MIN_POSITIVE / 2.0,
            f64::MAX,
            f64::MIN,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            123456789012345680.0,
            1e21,
            1e-7,
        ];
        for d in doubles {
            same(Bson::Double(d));
        }
        for i in [0, -1, i32::MIN, i32::MAX] {
            same(Bson::Int32(i));
        }
        for i in [0, -1, i64::MIN, i64::MAX] {
            same(Bson::Int64(i));
        }
        for s in [
            "",
            "plain",
            "quote \" backslash \\ slash /",
            "control \u{1} \n \t \u{7f}",
            "é ☃ 𝄞",
        ] {
            same(Bson::String(s.into()));
        }
        same(Bson::Document(doc! {
            "oid": ObjectId::new(),
            "date": DateTime::from_millis(1_700_000_000_123),
            "old": DateTime::from_millis(-5),
            "far": DateTime::from_millis(300_000_000_000_000),
            "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 1, 255] },
            "uuid": Binary { subtype: BinarySubtype::Uuid, bytes: vec![7; 16] },
            "ts": Timestamp { time: 5, increment: 9 },
            "re": Regex { pattern: "a.*".try_into().unwrap(), options: "mi".try_into().unwrap() },
            "dec": Bson::Decimal128("1.50".parse::<Decimal128>().unwrap()),
            "null": Bson::Null,
            "undef": Bson::Undefined,
            "min": Bson::MinKey,
            "max": Bson::MaxKey,
            "sym": Bson::Symbol("s".into()),
            "code": Bson::JavaScriptCode("f()".into()),
            "bools": [true, false],
            "nested": {"a": [{"b": [[1.5, {"c": "d"}]]}], "e\"k\u{1}": {}},
            "empty": [],
        }));
    }
}
