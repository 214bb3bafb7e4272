//! Extended JSON bodies: requests are read as canonical (or relaxed) Extended JSON whatever
//! their Content-Type says (clients send none on bodiless requests), responses are canonical
//! Extended JSON with `Content-Type: application/json`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bson::{Bson, Document};

use super::error::ApiError;

/// A request body that is one Extended JSON document.
#[derive(Debug, Clone, PartialEq)]
pub struct EjsonBody(pub Document);

/// A request body that may be empty (`None`) or one Extended JSON document.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionalEjsonBody(pub Option<Document>);

async fn bytes_of<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BadRequest",
                "the request body is larger than the server's limit",
            ),
            _ => ApiError::bad_request("the request body cannot be read"),
        })
}

/// Parses a body: JSON, then Extended JSON, then it must be a document.
pub fn parse_document(bytes: &[u8]) -> Result<Document, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("expected a JSON body, found none"));
    }
    let mut json: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    undo_double_timestamps(&mut json);
    if !json.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    match Bson::try_from(json) {
        Ok(Bson::Document(d)) => Ok(d),
        Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!(
            "the body is not valid Extended JSON: {e}"
        ))),
    }
}

/// `realm-web` serializes function arguments to canonical Extended JSON and then serializes
/// the whole body again, so a timestamp's `t` and `i` arrive as `{"$numberInt": "…"}`
/// (`{"$timestamp": {"t": {"$numberInt": "1700000000"}, "i": {"$numberInt": "7"}}}`). Such
/// a timestamp is read as the one the client meant, and so are `{"$minKey": 1}` and
/// `{"$maxKey": 1}`; nothing else changes meaning when serialized twice (the other canonical
/// forms hold strings only).
fn undo_double_timestamps(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if map.len() == 1 {
                for key in ["$minKey", "$maxKey"] {
                    if let Some(v) = map.get_mut(key) {
                        if let Some(n) = wrapped_integer(v) {
                            *v = Value::from(n);
                        }
                        return;
                    }
                }
                if let Some(Value::Object(inner)) = map.get_mut("$timestamp") {
                    for key in ["t", "i"] {
                        if let Some(v) = inner.get_mut(key) {
                            if let Some(n) = wrapped_integer(v) {
                                *v = Value::from(n);
                            }
                        }
                    }
                    return;
                }
            }
            for v in map.values_mut() {
                undo_double_timestamps(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(undo_double_timestamps),
        _ => {}
    }
}

/// `{"$numberInt": "7"}` or `{"$numberLong": "7"}` as a non-negative integer.
fn wrapped_integer(value: &serde_json::Value) -> Option<u64> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let text = map
        .get("$numberInt")
        .or_else(|| map.get("$numberLong"))?
        .as_str()?;
    text.parse::<u64>().ok()
}

impl<S: Send + Sync> FromRequest<S> for EjsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = bytes_of(request, state).await?;
        parse_document(&bytes).map(EjsonBody)
    }
}

impl<S: Send + Sync> FromRequest<S> for OptionalEjsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = bytes_of(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalEjsonBody(None));
        }
        parse_document(&bytes).map(|d| OptionalEjsonBody(Some(d)))
    }
}

/// A canonical Extended JSON response.
#[derive(Debug, Clone, PartialEq)]
pub struct Ejson(pub StatusCode, pub Bson);

impl Ejson {
    /// 200 with `value`.
    pub fn ok(value: impl Into<Bson>) -> Ejson {
        Ejson(StatusCode::OK, value.into())
    }
}

/// A `Content-Type: application/json` response with this text.
pub fn json_response(status: StatusCode, text: String) -> Response {
    let mut response = (status, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl IntoResponse for Ejson {
    fn into_response(self) -> Response {
        json_response(self.0, crate::json::canonical::to_string(&self.1))
    }
}

/// Reads a string field of a request body.
pub fn string_field(body: &Document, name: &str) -> Result<String, ApiError> {
    match body.get(name) {
        Some(Bson::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::invalid_parameter(format!(
            "{name:?} must be a string"
        ))),
        None => Err(ApiError::missing_parameter(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_numbers_keep_their_types() {
        let d = parse_document(br#"{"a": {"$numberInt": "3"}, "b": {"$numberLong": "4"}, "c": {"$numberDouble": "1.5"}}"#)
            .unwrap_or_default();
        assert_eq!(d.get("a"), Some(&Bson::Int32(3)));
        assert_eq!(d.get("b"), Some(&Bson::Int64(4)));
        assert_eq!(d.get("c"), Some(&Bson::Double(1.5)));
    }

    #[test]
    fn realm_webs_doubly_serialized_timestamps_are_read() {
        let d = parse_document(
            br#"{"a": [{"$timestamp": {"t": {"$numberInt": "1700000000"}, "i": {"$numberInt": "7"}}}]}"#,
        )
        .unwrap();
        assert_eq!(
            d.get_array("a").unwrap()[0],
            Bson::Timestamp(bson::Timestamp {
                time: 1_700_000_000,
                increment: 7
            })
        );
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        for body in [
            &b""[..],
            b"{",
            b"[1]",
            b"3",
            br#"{"a": {"$numberInt": "x"}}"#,
        ] {
            let e = parse_document(body).err().map(|e| e.status);
            assert_eq!(
                e,
                Some(StatusCode::BAD_REQUEST),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
