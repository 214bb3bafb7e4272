//! `GET app/{id}/functions/call?baas_request=…`: `watch` as server-sent events over a change
//! stream, each event as the caller may see it.
//!
//! The change stream never carries document contents to the client: for an insert, update or
//! replace, the document is read again through the caller's guarded collection (rules,
//! filters and field permissions applied by the library), and the event is dropped when the
//! caller cannot read it. An update's `updatedFields` keep only the paths the caller can read
//! (values from that read) and `removedFields` is left empty (a removed field's name could be
//! one the caller may not learn). A delete is sent only for a document this stream has shown
//! the caller. The client's `filter` is matched against the event as sent, so it cannot probe
//! what the caller cannot see.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;
use bson::{doc, Bson, Document};
use serde::Deserialize;

use super::caller::Caller;
use super::client_auth::check_app;
use super::error::ApiError;
use super::service::data_source;
use super::state::{ServerState, ServerStore};
use crate::guard::GuardError;
use crate::query::Filter;
use crate::store::{ChangeStream, ChangeStreams, FindOptions, Namespace, WatchError, WatchOptions};
use crate::User;

/// The most document ids a stream remembers having shown (for deletes).
const MAX_SEEN: usize = 100_000;

/// `?baas_request=<base64 of the JSON call>`.
#[derive(Debug, Deserialize)]
pub struct WatchQuery {
    baas_request: Option<String>,
}

/// What a watch call asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchRequest {
    /// The service.
    pub service: String,
    /// The namespace.
    pub namespace: Namespace,
    /// Only these `_id`s.
    pub ids: Option<Vec<Bson>>,
    /// A filter on the events.
    pub filter: Option<Document>,
}

impl WatchRequest {
    /// Reads `baas_request`: base64 of `{name: "watch", service, arguments: [{database,
    /// collection, ids?, filter?}]}`.
    pub fn decode(encoded: &str) -> Result<WatchRequest, ApiError> {
        let encoded = encoded.trim().replace(' ', "+");
        let engine = base64::engine::general_purpose::STANDARD;
        let bytes = engine
            .decode(encoded.trim_end_matches('='))
            .or_else(|_| engine.decode(&encoded))
            .or_else(|_| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(encoded.trim_end_matches('='))
            })
            .or_else(|_| {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(encoded.trim_end_matches('='))
            })
            .map_err(|_| ApiError::bad_request("baas_request is not base64"))?;
        let body = super::body::parse_document(&bytes)?;
        let name = super::body::string_field(&body, "name")?;
        if name != "watch" {
            return Err(ApiError::invalid_parameter(format!(
                "only watch is served as a stream, not {name:?}"
            )));
        }
        let service = super::body::string_field(&body, "service")?;
        let arguments = match body.get("arguments") {
            Some(Bson::Array(items)) => items,
            _ => {
                return Err(ApiError::invalid_parameter(
                    "\"arguments\" must be an array",
                ))
            }
        };
        let [Bson::Document(args)] = arguments.as_slice() else {
            return Err(ApiError::invalid_parameter(
                "watch takes one argument: {database, collection, ids?, filter?}",
            ));
        };
        let database = super::body::string_field(args, "database")?;
        let collection = super::body::string_field(args, "collection")?;
        let ids = match args.get("ids") {
            None | Some(Bson::Null) => None,
            Some(Bson::Array(ids)) => Some(ids.clone()),
            Some(_) => return Err(ApiError::invalid_parameter("\"ids\" must be an array")),
        };
        let filter = match args.get("filter") {
            None | Some(Bson::Null) => None,
            Some(Bson::Document(f)) => Some(f.clone()),
            Some(_) => return Err(ApiError::invalid_parameter("\"filter\" must be a document")),
        };
        Ok(WatchRequest {
            service,
            namespace: Namespace::new(&database, &collection),
            ids,
            filter,
        })
    }
}

/// The watch route.
pub async fn watch<S: ServerStore>(
    State(state): State<Arc<ServerState<S>>>,
    Path(app): Path<String>,
    Query(query): Query<WatchQuery>,
    Caller(user): Caller,
) -> Result<Response, ApiError> {
    check_app(&state, &app)?;
    let encoded = query
        .baas_request
        .ok_or_else(|| ApiError::missing_parameter("baas_request"))?;
    let request = WatchRequest::decode(&encoded)?;
    let service = data_source(&state, &request.service)?.to_owned();
    let ns = request.namespace.clone();
    // no rules for the namespace: refused before anything is watched
    state
        .app
        .service_collection(&state.store, &user, &service, &ns.database, &ns.collection)
        .map_err(|e| ApiError::from(GuardError::NoRule(e)))?;
    let filter = request
        .filter
        .as_ref()
        .map(Filter::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("watch filter: {e}")))?;
    let changes = open(&state.store, &ns, request.ids.clone())
        .await
        .map_err(api_error)?;
    let watcher = Watcher {
        state: state.clone(),
        user,
        service,
        ns,
        filter,
        changes,
        seen: HashSet::new(),
        shutdown: state.shutdown.clone(),
        done: false,
    };
    let frames = futures_util::stream::unfold(watcher, |mut w| async move {
        w.next_frame()
            .await
            .map(|frame| (Ok::<Bytes, Infallible>(Bytes::from(frame)), w))
    });
    let mut response = Response::new(Body::from_stream(frames));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

struct Watcher<S: ServerStore> {
    state: Arc<ServerState<S>>,
    user: User,
    service: String,
    ns: Namespace,
    filter: Option<Filter>,
    changes: ChangeStream,
    seen: HashSet<String>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    done: bool,
}

/// One server-sent event carrying `text`: realm-web decodes `%25`, `%0A` and `%0D` in data.
fn frame(event: Option<&str>, text: &str) -> String {
    let data = text
        .replace('%', "%25")
        .replace('\n', "%0A")
        .replace('\r', "%0D");
    match event {
        Some(name) => format!("event: {name}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

fn key_of(id: &Bson) -> String {
    id.clone().into_canonical_extjson().to_string()
}

/// The value at a dotted path (`a.b.0`) of a document.
fn lookup<'d>(doc: &'d Document, path: &str) -> Option<&'d Bson> {
    let mut parts = path.split('.');
    let mut current = doc.get(parts.next()?)?;
    for part in parts {
        current = match current {
            Bson::Document(d) => d.get(part)?,
            Bson::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

impl<S: ServerStore> Watcher<S> {
    async fn next_frame(&mut self) -> Option<String> {
        if self.done || *self.shutdown.borrow() {
            return None;
        }
        loop {
            let next = tokio::select! {
                _ = self.shutdown.changed() => return None,
                next = self.changes.next() => next,
            };
            match next {
                // nothing within the stream's wait: wait again
                Ok(None) => continue,
                Err(e) => {
                    self.done = true;
                    return Some(error_frame(api_error(e)));
                }
                Ok(Some(raw)) => match self.visible(raw).await {
                    Ok(Some(event)) => {
                        return Some(frame(
                            None,
                            &crate::json::canonical::to_string(&Bson::Document(event)),
                        ))
                    }
                    Ok(None) => continue,
                    Err(e) => {
                        self.done = true;
                        return Some(error_frame(e));
                    }
                },
            }
        }
    }

    /// The event as the caller may see it, or `None` when they may not see it.
    async fn visible(&mut self, raw: Document) -> Result<Option<Document>, ApiError> {
        let operation = raw.get_str("operationType").unwrap_or_default().to_owned();
        if matches!(
            operation.as_str(),
            "invalidate" | "drop" | "dropDatabase" | "rename"
        ) {
            self.done = true;
            return Ok(None);
        }
        let Some(id) = raw
            .get_document("documentKey")
            .ok()
            .and_then(|k| k.get("_id"))
            .cloned()
        else {
            return Ok(None);
        };
        let key = key_of(&id);
        let mut event = doc! {
            "_id": raw.get("_id").cloned().unwrap_or(Bson::Null),
            "operationType": operation.clone(),
            "ns": {"db": self.ns.database.clone(), "coll": self.ns.collection.clone()},
            "documentKey": {"_id": id.clone()},
        };
        match operation.as_str() {
            "insert" | "update" | "replace" => {
                let Some(document) =
                    read(&self.state, &self.user, &self.service, &self.ns, &id).await?
                else {
                    self.seen.remove(&key);
                    return Ok(None);
                };
                if operation == "update" {
                    let mut updated = Document::new();
                    if let Ok(fields) = raw
                        .get_document("updateDescription")
                        .and_then(|u| u.get_document("updatedFields"))
                    {
                        for path in fields.keys() {
                            if let Some(value) = lookup(&document, path) {
                                updated.insert(path.clone(), value.clone());
                            }
                        }
                    }
                    event.insert(
                        "updateDescription",
                        doc! {"updatedFields": updated, "removedFields": []},
                    );
                }
                event.insert("fullDocument", document);
                if self.seen.len() < MAX_SEEN {
                    self.seen.insert(key);
                }
            }
            "delete" => {
                if !self.seen.remove(&key) {
                    return Ok(None);
                }
            }
            _ => return Ok(None),
        }
        if let Some(filter) = &self.filter {
            if !filter.matches(&event) {
                return Ok(None);
            }
        }
        Ok(Some(event))
    }
}

/// The document as the caller may read it now, through the library's guarded collection.
async fn read<S: ServerStore>(
    state: &ServerState<S>,
    user: &User,
    service: &str,
    ns: &Namespace,
    id: &Bson,
) -> Result<Option<Document>, ApiError> {
    let rule_functions = state.functions.for_rules(user);
    let collection = state
        .app
        .service_collection(&state.store, user, service, &ns.database, &ns.collection)
        .map_err(|e| ApiError::from(GuardError::NoRule(e)))?
        .with_functions(&rule_functions);
    Ok(collection
        .find_one(&doc! {"_id": id.clone()}, &FindOptions::default())
        .await?)
}

/// The change stream of `ns` from now on (the store's [`ChangeStreams`], as triggers read):
/// with `ids`, only the changes to those documents; never with document contents (the watcher
/// reads again what the caller may see).
async fn open<S: ChangeStreams>(
    store: &S,
    ns: &Namespace,
    ids: Option<Vec<Bson>>,
) -> Result<ChangeStream, WatchError> {
    let mut pipeline = Vec::new();
    if let Some(ids) = ids {
        pipeline.push(doc! {"$match": {"documentKey._id": {"$in": ids}}});
    }
    pipeline.push(doc! {"$project": {"fullDocument": 0, "fullDocumentBeforeChange": 0}});
    let options = WatchOptions {
        pipeline,
        ..WatchOptions::default()
    };
    store.watch(ns, options).await
}

/// A change stream's failure as the client sees it: the store's error, or (history lost, so
/// the stream cannot go on) the database unavailable.
fn api_error(error: WatchError) -> ApiError {
    match error {
        WatchError::Store(e) => ApiError::from(e),
        WatchError::Resume(_) => ApiError::unavailable("the change stream was lost"),
    }
}

fn error_frame(error: ApiError) -> String {
    let body = serde_json::json!({"error": error.message, "error_code": error.error_code});
    frame(Some("error"), &body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_decode_from_base64_json() {
        let json = r#"{"name":"watch","service":"mongodb-atlas","arguments":[{"database":"d","collection":"c","ids":[{"$oid":"64b7f0c2a1b2c3d4e5f60001"}]}]}"#;
        let encoded = base64::engine::general_purpose::STANDARD.encode(json);
        let r = WatchRequest::decode(&encoded).unwrap();
        assert_eq!(r.namespace, Namespace::new("d", "c"));
        assert_eq!(r.ids.map(|i| i.len()), Some(1));
        for bad in ["!!!", "e30=", ""] {
            assert!(WatchRequest::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn frames_escape_what_realm_web_decodes() {
        assert_eq!(frame(None, "a%b"), "data: a%25b\n\n");
        assert_eq!(frame(Some("error"), "x"), "event: error\ndata: x\n\n");
    }

    #[test]
    fn dotted_paths_reach_into_documents_and_arrays() {
        let d = doc! {"a": {"b": [1, {"c": 2}]}};
        assert_eq!(lookup(&d, "a.b.1.c"), Some(&Bson::Int32(2)));
        assert_eq!(lookup(&d, "a.x"), None);
    }
}
