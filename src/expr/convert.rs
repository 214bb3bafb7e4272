//! `%stringToOid`, `%oidToString`, `%stringToUuid`, `%uuidToString`.

use bson::{oid::ObjectId, spec::BinarySubtype, Binary, Bson};

use super::ast::Conversion;

/// Applies a conversion operator to a value.
pub(crate) fn convert(conversion: Conversion, value: &Bson) -> Result<Bson, String> {
    match (conversion, value) {
        (Conversion::StringToOid, Bson::ObjectId(id)) => Ok(Bson::ObjectId(*id)),
        (Conversion::StringToOid, Bson::String(s)) => {
            if s.len() == 24 {
                ObjectId::parse_str(s)
                    .map(Bson::ObjectId)
                    .map_err(|_| format!("%stringToOid: {s:?} is not 24 hexadecimal characters"))
            } else if s.len() == 12 {
                let bytes: [u8; 12] = s
                    .as_bytes()
                    .try_into()
                    .map_err(|_| "%stringToOid: bad length".to_owned())?;
                Ok(Bson::ObjectId(ObjectId::from_bytes(bytes)))
            } else {
                Err(format!(
                    "%stringToOid: {s:?} is neither 24 hexadecimal characters nor 12 bytes"
                ))
            }
        }
        (Conversion::OidToString, Bson::ObjectId(id)) => Ok(Bson::String(id.to_hex())),
        (Conversion::StringToUuid, Bson::String(s)) if s.len() == 36 => bson::Uuid::parse_str(s)
            .map(|u| Bson::Binary(Binary::from_uuid(u)))
            .map_err(|_| format!("%stringToUuid: {s:?} is not a UUID")),
        (Conversion::StringToUuid, Bson::String(s)) => Err(format!(
            "%stringToUuid: {s:?} is not a 36-character UUID string"
        )),
        (Conversion::UuidToString, Bson::Binary(b))
            if matches!(b.subtype, BinarySubtype::Uuid | BinarySubtype::UuidOld) =>
        {
            let bytes: [u8; 16] = b
                .bytes
                .as_slice()
                .try_into()
                .map_err(|_| "%uuidToString: a UUID has 16 bytes".to_owned())?;
            Ok(Bson::String(bson::Uuid::from_bytes(bytes).to_string()))
        }
        (conversion, other) => Err(format!(
            "{} cannot convert {} ({})",
            conversion.name(),
            other.clone().into_relaxed_extjson(),
            type_name(other)
        )),
    }
}

pub(crate) fn type_name(value: &Bson) -> &'static str {
    match value {
        Bson::String(_) => "a string",
        Bson::ObjectId(_) => "an ObjectId",
        Bson::Binary(_) => "binary data",
        Bson::Document(_) => "a document",
        Bson::Array(_) => "an array",
        Bson::Null => "null",
        Bson::Boolean(_) => "a boolean",
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => "a number",
        _ => "another BSON type",
    }
}
