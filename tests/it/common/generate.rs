//! Generated documents and queries for differential tests against a real MongoDB-wire server.
#![allow(dead_code)]

use bson::{doc, oid::ObjectId, Bson, DateTime, Document};

use super::Rng;

const FIELDS: &[&str] = &["a", "b", "c"];
const STRINGS: &[&str] = &["", "a", "ab", "B", "abc", "x1", "null"];

fn oid(n: u8) -> Bson {
    Bson::ObjectId(ObjectId::from_bytes([n; 12]))
}

/// A scalar of any commonly stored type.
pub fn scalar(rng: &mut Rng) -> Bson {
    match rng.below(16) {
        0 => Bson::Null,
        1 | 2 => Bson::Int32(rng.below(7) as i32 - 3),
        3 => Bson::Int64(rng.below(5) as i64 - 2),
        4 => rng
            .pick(&[
                Bson::Double(1.5),
                Bson::Double(-0.5),
                Bson::Double(2.0),
                Bson::Double(0.0),
                Bson::Double(-2.75),
            ])
            .clone(),
        5 => Bson::Double(f64::NAN),
        6 | 7 => Bson::String(rng.pick(STRINGS).to_string()),
        8 => Bson::Boolean(rng.chance(50)),
        9 => oid(rng.below(3) as u8),
        10 => Bson::String(hex_of(rng.below(3) as u8)),
        11 => Bson::DateTime(DateTime::from_millis(rng.below(3) as i64 * 1000)),
        12 => Bson::Int32(1),
        13 => rng.pick(&[Bson::MinKey, Bson::MaxKey]).clone(),
        14 => Bson::Boolean(true),
        _ => Bson::Double(3.0),
    }
}

fn hex_of(n: u8) -> String {
    ObjectId::from_bytes([n; 12]).to_hex()
}

/// A value: scalar, array or embedded document, nested up to `depth`.
pub fn value(rng: &mut Rng, depth: usize) -> Bson {
    if depth == 0 {
        return scalar(rng);
    }
    match rng.below(10) {
        0..=4 => scalar(rng),
        5..=7 => {
            let len = rng.below(4);
            Bson::Array((0..len).map(|_| value(rng, depth - 1)).collect())
        }
        _ => Bson::Document(document(rng, depth - 1)),
    }
}

/// A document over the fields `a`, `b`, `c` (each possibly missing).
pub fn document(rng: &mut Rng, depth: usize) -> Document {
    let mut doc = Document::new();
    for field in FIELDS {
        if rng.chance(70) {
            doc.insert(*field, value(rng, depth));
        }
    }
    doc
}

fn path(rng: &mut Rng) -> String {
    rng.pick(&[
        "a", "b", "a.b", "a.a", "a.0", "a.1", "b.c", "a.b.c", "a.0.b", "c", "a.b.0", "b.0.a",
    ])
    .to_string()
}

fn in_list(rng: &mut Rng) -> Bson {
    let len = rng.below(4);
    let mut items: Vec<Bson> = (0..len).map(|_| value(rng, 1)).collect();
    if rng.chance(15) {
        items.push(Bson::RegularExpression(regex("^a", "")));
    }
    Bson::Array(items)
}

fn operator(rng: &mut Rng, depth: usize) -> Document {
    match rng.below(19) {
        0 => doc! {"$eq": value(rng, 1)},
        1 => doc! {"$ne": value(rng, 1)},
        2 => doc! {"$gt": scalar(rng)},
        3 => doc! {"$gte": scalar(rng)},
        4 => doc! {"$lt": scalar(rng)},
        5 => doc! {"$lte": scalar(rng)},
        6 => doc! {"$in": in_list(rng)},
        7 => doc! {"$nin": in_list(rng)},
        8 => doc! {"$exists": rng.chance(50)},
        9 => {
            doc! {"$type": rng.pick(&[Bson::from("number"), Bson::from("array"), Bson::from("string"), Bson::from("null"), Bson::from("object"), Bson::Int32(16), Bson::from("double"), Bson::from("bool"), Bson::from("objectId"), Bson::Array(vec![Bson::from("int"), Bson::from("string")])]).clone()}
        }
        10 => {
            doc! {"$mod": [rng.pick(&[Bson::Int32(2), Bson::Int32(3), Bson::Double(2.5), Bson::Int32(-2)]).clone(), Bson::Int32(rng.below(3) as i32 - 1)]}
        }
        11 => doc! {"$size": rng.below(4) as i32},
        12 => {
            doc! {"$regex": *rng.pick(&["^a", "b", "^$", "A"]), "$options": *rng.pick(&["", "i"])}
        }
        13 => doc! {"$all": Bson::Array((0..rng.below(3)).map(|_| scalar(rng)).collect())},
        14 if depth > 0 => doc! {"$elemMatch": operator(rng, depth - 1)},
        15 if depth > 0 => doc! {"$elemMatch": field_query(rng, depth - 1)},
        16 if depth > 0 => doc! {"$not": operator(rng, depth - 1)},
        17 => {
            let mut both = operator(rng, 0);
            both.extend(operator(rng, 0));
            both
        }
        _ => doc! {"$eq": scalar(rng)},
    }
}

fn field_query(rng: &mut Rng, depth: usize) -> Document {
    let mut query = Document::new();
    let field = path(rng);
    if rng.chance(30) {
        query.insert(field, value(rng, 1));
    } else {
        query.insert(field, operator(rng, depth));
    }
    query
}

/// A query: field conditions, possibly nested in `$and` / `$or` / `$nor`.
pub fn query(rng: &mut Rng, depth: usize) -> Document {
    if depth > 0 && rng.chance(25) {
        let op = *rng.pick(&["$and", "$or", "$nor"]);
        let len = 1 + rng.below(3);
        let parts: Vec<Bson> = (0..len)
            .map(|_| Bson::Document(query(rng, depth - 1)))
            .collect();
        return doc! {op: parts};
    }
    field_query(rng, 2)
}

/// A BSON regular expression value.
pub fn regex(pattern: &str, options: &str) -> bson::Regex {
    bson::Regex {
        pattern: pattern.to_string().try_into().expect("pattern without NUL"),
        options: options.to_string().try_into().expect("options without NUL"),
    }
}
