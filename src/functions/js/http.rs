//! The host side of `context.http` (`get`, `post`, `put`, `patch`, `delete`, `head`): App
//! Services' request document in, its response document out.
//!
//! Requests go only to the hosts the app allows (`"expanse": {"http": {"allowed_hosts": […]}}`
//! in the root config, [`HttpSettings`]); with none, `context.http` is disabled. Redirects are
//! followed only when the request asks (`followRedirects: true`), each hop checked against the
//! allowed hosts, and credentials (`Authorization`, `Cookie`) are not sent on to another host.
//! A response body larger than `max_response_bytes` is refused. The call's time limit applies:
//! the host call is dropped, and its connection with it, when the call tree stops.
//!
//! Errors name the method, the host and what was refused, never a header value, a body or a
//! password.

use std::sync::OnceLock;

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Document};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{redirect, Client, Method, StatusCode, Url};

use crate::app::HttpSettings;
use crate::App;

/// Redirects followed at most (with `followRedirects: true`).
const MAX_REDIRECTS: usize = 10;

/// Why a `context.http` request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The app allows no host.
    #[error("context.http is disabled: the app allows no hosts (list them in root_config.json: \"expanse\": {{\"http\": {{\"allowed_hosts\": [\"api.example.com\"]}}}})")]
    Disabled,
    /// A method the prelude never sends.
    #[error("context.http has no method {0:?}")]
    Method(String),
    /// The request document is malformed (the field named).
    #[error("context.http.{method}: {problem}")]
    Request {
        /// The method called.
        method: String,
        /// What is wrong.
        problem: String,
    },
    /// A request field Expanse does not implement.
    #[error("context.http.{method}: {field} is not supported by Expanse")]
    Unsupported {
        /// The method called.
        method: String,
        /// The field.
        field: &'static str,
    },
    /// The host is not on the app's list.
    #[error("context.http.{method}: the host {host:?} is not allowed (the app's allowed_hosts do not list it)")]
    HostNotAllowed {
        /// The method called.
        method: String,
        /// The host.
        host: String,
    },
    /// A redirect to a host not on the app's list.
    #[error("context.http.{method}: a redirect to the host {host:?} was refused (the app's allowed_hosts do not list it)")]
    RedirectNotAllowed {
        /// The method called.
        method: String,
        /// The host redirected to.
        host: String,
    },
    /// More redirects than followed.
    #[error("context.http.{method}: more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects {
        /// The method called.
        method: String,
    },
    /// The request could not be sent or the response read.
    #[error("context.http.{method}: the request to {host:?} failed ({why})")]
    Failed {
        /// The method called.
        method: String,
        /// The host.
        host: String,
        /// Connect, timeout, body, … (no URL, no value).
        why: &'static str,
    },
    /// The response body is larger than the app accepts.
    #[error("context.http.{method}: the response from {host:?} is larger than {limit} bytes")]
    TooLarge {
        /// The method called.
        method: String,
        /// The host.
        host: String,
        /// The limit (`max_response_bytes`).
        limit: usize,
    },
    /// The HTTP client could not be set up.
    #[error("context.http: the HTTP client could not be set up: {0}")]
    Client(String),
}

/// One shared client: no automatic redirects (they are checked here), no proxy from the
/// environment (the allowed hosts are the hosts reached).
fn client() -> Result<&'static Client, HttpError> {
    static CLIENT: OnceLock<Result<Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            Client::builder()
                .redirect(redirect::Policy::none())
                .no_proxy()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| HttpError::Client(e.clone()))
}

/// Performs `context.http.<method>(request)`: the response document (`status`, `statusCode`,
/// `contentLength`, `headers`, `cookies`, `body` as binary).
pub async fn perform(app: &App, method: &str, args: Vec<Bson>) -> Result<Bson, HttpError> {
    let verb = match method {
        "get" => Method::GET,
        "post" => Method::POST,
        "put" => Method::PUT,
        "patch" => Method::PATCH,
        "delete" => Method::DELETE,
        "head" => Method::HEAD,
        other => return Err(HttpError::Method(other.to_owned())),
    };
    let settings = &app.http;
    if !settings.enabled() {
        return Err(HttpError::Disabled);
    }
    let request = Prepared::read(method, args)?;
    let host = allowed(settings, method, &request.url, false)?;
    let client = client()?;
    let mut url = request.url.clone();
    let mut verb = verb;
    let mut body = request.body.clone();
    let mut headers = request.headers.clone();
    let mut redirects = 0;
    let response = loop {
        let mut send = client
            .request(verb.clone(), url.clone())
            .headers(headers.clone());
        if let Some(body) = &body {
            send = send.body(body.clone());
        }
        let response = send.send().await.map_err(|e| failed(method, &host, &e))?;
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url.join(l).ok());
        let (true, true, Some(next)) = (
            request.follow_redirects,
            response.status().is_redirection(),
            location,
        ) else {
            break response;
        };
        redirects += 1;
        if redirects > MAX_REDIRECTS {
            return Err(HttpError::TooManyRedirects {
                method: method.to_owned(),
            });
        }
        allowed(settings, method, &next, true)?;
        if next.host_str() != url.host_str()
            || next.port_or_known_default() != url.port_or_known_default()
        {
            headers.remove("authorization");
            headers.remove("cookie");
        }
        let status = response.status();
        if status == StatusCode::SEE_OTHER
            || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                && verb == Method::POST)
        {
            if verb != Method::HEAD {
                verb = Method::GET;
            }
            body = None;
            headers.remove("content-type");
            headers.remove("content-length");
        }
        url = next;
    };
    let final_host = host_of(response.url());
    respond(response, method, &final_host, settings.max_response_bytes).await
}

/// The request document, read.
struct Prepared {
    url: Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    follow_redirects: bool,
}

impl Prepared {
    fn read(method: &str, mut args: Vec<Bson>) -> Result<Prepared, HttpError> {
        let bad = |problem: String| HttpError::Request {
            method: method.to_owned(),
            problem,
        };
        let doc = match args.drain(..).next() {
            // A field set to null or undefined is as if not given.
            Some(Bson::Document(d)) => d
                .into_iter()
                .filter(|(_, v)| !matches!(v, Bson::Null | Bson::Undefined))
                .collect::<Document>(),
            _ => {
                return Err(bad(
                    "the argument must be a request object ({url, headers, body, …})".into(),
                ))
            }
        };
        for field in ["digestAuth", "authUrl", "form"] {
            if doc.get(field).is_some_and(|v| !matches!(v, Bson::Null)) {
                return Err(HttpError::Unsupported {
                    method: method.to_owned(),
                    field: match field {
                        "digestAuth" => "digestAuth",
                        "authUrl" => "authUrl",
                        _ => "form",
                    },
                });
            }
        }
        let mut url = match doc.get("url") {
            Some(Bson::String(u)) => {
                Url::parse(u).map_err(|_| bad("url is not a valid URL".into()))?
            }
            Some(Bson::Null) | None => url_from_parts(&doc).map_err(bad)?,
            Some(_) => return Err(bad("url must be a string".into())),
        };
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad("the URL must be http:// or https:// with a host".into()));
        }
        if let Some(user) = text(&doc, "username").map_err(bad)? {
            url.set_username(&user)
                .map_err(|_| bad("username cannot be set on this URL".into()))?;
        }
        if let Some(password) = text(&doc, "password").map_err(bad)? {
            url.set_password(Some(&password))
                .map_err(|_| bad("password cannot be set on this URL".into()))?;
        }
        let mut headers = HeaderMap::new();
        if let Some(given) = object(&doc, "headers").map_err(bad)? {
            for (name, values) in given {
                let header = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| bad(format!("headers: {name:?} is not a valid header name")))?;
                for value in values_of(values)
                    .ok_or_else(|| bad(format!("headers.{name} must be an array of strings")))?
                {
                    let value = HeaderValue::from_str(&value).map_err(|_| {
                        bad(format!(
                            "headers.{name} has a value that is not a valid header value"
                        ))
                    })?;
                    headers.append(header.clone(), value);
                }
            }
        }
        if let Some(cookies) = object(&doc, "cookies").map_err(bad)? {
            let mut pairs = Vec::new();
            for (name, value) in cookies {
                let value =
                    scalar(value).ok_or_else(|| bad(format!("cookies.{name} must be a string")))?;
                pairs.push(format!("{name}={value}"));
            }
            if !pairs.is_empty() {
                let value = HeaderValue::from_str(&pairs.join("; "))
                    .map_err(|_| bad("cookies: a name or value is not valid in a header".into()))?;
                headers.append("cookie", value);
            }
        }
        let json = matches!(doc.get("encodeBodyAsJSON"), Some(Bson::Boolean(true)));
        let body = match doc.get("body") {
            None | Some(Bson::Null) => None,
            Some(Bson::String(s)) => Some(s.clone().into_bytes()),
            Some(Bson::Binary(b)) => Some(b.bytes.clone()),
            Some(_) => {
                return Err(bad(
                    "body must be a string or binary (an object needs encodeBodyAsJSON: true)"
                        .into(),
                ))
            }
        };
        if json && body.is_some() && !headers.contains_key("content-type") {
            headers.insert("content-type", HeaderValue::from_static("application/json"));
        }
        let follow_redirects = match doc.get("followRedirects") {
            None | Some(Bson::Null) => false,
            Some(Bson::Boolean(b)) => *b,
            Some(_) => return Err(bad("followRedirects must be true or false".into())),
        };
        Ok(Prepared {
            url,
            headers,
            body,
            follow_redirects,
        })
    }
}

/// `scheme` (default `http`), `host`, `path`, `query` (`{name: [values]}`), `fragment`.
fn url_from_parts(doc: &Document) -> Result<Url, String> {
    let scheme = text(doc, "scheme")?.unwrap_or_else(|| "http".into());
    let host = text(doc, "host")?.ok_or("the request needs a url, or a host")?;
    let mut url = Url::parse(&format!("{scheme}://{host}"))
        .map_err(|_| "scheme and host do not make a valid URL".to_owned())?;
    if let Some(path) = text(doc, "path")? {
        url.set_path(&path);
    }
    if let Some(query) = object(doc, "query")? {
        let mut pairs = url.query_pairs_mut();
        for (name, values) in query {
            for value in
                values_of(values).ok_or(format!("query.{name} must be an array of strings"))?
            {
                pairs.append_pair(name, &value);
            }
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    if let Some(fragment) = text(doc, "fragment")? {
        url.set_fragment(Some(&fragment));
    }
    Ok(url)
}

fn text(doc: &Document, key: &str) -> Result<Option<String>, String> {
    match doc.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

fn object<'a>(doc: &'a Document, key: &str) -> Result<Option<&'a Document>, String> {
    match doc.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Document(d)) => Ok(Some(d)),
        Some(_) => Err(format!("{key} must be an object")),
    }
}

/// A string, number or boolean as text.
fn scalar(value: &Bson) -> Option<String> {
    match value {
        Bson::String(s) => Some(s.clone()),
        Bson::Int32(n) => Some(n.to_string()),
        Bson::Int64(n) => Some(n.to_string()),
        Bson::Double(n) => Some(n.to_string()),
        Bson::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `[values]` (App Services' shape) or one value.
fn values_of(value: &Bson) -> Option<Vec<String>> {
    match value {
        Bson::Array(items) => items.iter().map(scalar).collect(),
        other => scalar(other).map(|v| vec![v]),
    }
}

/// The URL's host, if the app allows it.
fn allowed(
    settings: &HttpSettings,
    method: &str,
    url: &Url,
    redirect: bool,
) -> Result<String, HttpError> {
    let host = url.host_str().unwrap_or_default().to_owned();
    if matches!(url.scheme(), "http" | "https") && settings.allows(&host) {
        return Ok(host);
    }
    let method = method.to_owned();
    Err(if redirect {
        HttpError::RedirectNotAllowed { method, host }
    } else {
        HttpError::HostNotAllowed { method, host }
    })
}

fn host_of(url: &Url) -> String {
    url.host_str().unwrap_or_default().to_owned()
}

fn failed(method: &str, host: &str, e: &reqwest::Error) -> HttpError {
    let why = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the body could not be read"
    } else {
        "the request could not be sent"
    };
    HttpError::Failed {
        method: method.to_owned(),
        host: host.to_owned(),
        why,
    }
}

/// The response document, the body read up to `limit` bytes.
async fn respond(
    mut response: reqwest::Response,
    method: &str,
    host: &str,
    limit: usize,
) -> Result<Bson, HttpError> {
    let status = response.status();
    let mut headers = Document::new();
    let mut cookies = Document::new();
    for (name, value) in response.headers() {
        let key = crate::header_name::canonical(name.as_str());
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "set-cookie" {
            if let Some((cookie, rest)) = value.split_once('=') {
                let cookie_value = rest.split(';').next().unwrap_or_default().trim();
                cookies.insert(cookie.trim().to_owned(), cookie_value.to_owned());
            }
        }
        match headers.get_mut(&key) {
            Some(Bson::Array(values)) => values.push(Bson::String(value)),
            _ => {
                headers.insert(key, vec![Bson::String(value)]);
            }
        }
    }
    let declared = response.content_length();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(method, host, &e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(HttpError::TooLarge {
                method: method.to_owned(),
                host: host.to_owned(),
                limit,
            });
        }
        body.extend_from_slice(&chunk);
    }
    // A JavaScript number (an Int64 would cross as a BSON.Long).
    let length = declared.unwrap_or(body.len() as u64);
    let length = match i32::try_from(length) {
        Ok(n) => Bson::Int32(n),
        Err(_) => Bson::Double(length as f64),
    };
    let status_text = match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    };
    let mut out = Document::new();
    out.insert("status", status_text);
    out.insert("statusCode", i32::from(status.as_u16()));
    out.insert("contentLength", length);
    out.insert("headers", headers);
    out.insert("cookies", cookies);
    out.insert(
        "body",
        Binary {
            subtype: BinarySubtype::Generic,
            bytes: body,
        },
    );
    Ok(Bson::Document(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_header_names() {
        assert_eq!(
            crate::header_name::canonical("content-type"),
            "Content-Type"
        );
        assert_eq!(
            crate::header_name::canonical("x-request-id"),
            "X-Request-Id"
        );
        assert_eq!(crate::header_name::canonical("etag"), "Etag");
    }

    #[test]
    fn url_from_parts_builds_query_and_fragment() {
        let doc = bson::doc! {"scheme": "https", "host": "api.example.com", "path": "/v1/items",
        "query": {"a": ["1", "2"], "b": "x y"}, "fragment": "top"};
        let url = url_from_parts(&doc).unwrap();
        assert_eq!(
            url.as_str(),
            "https://api.example.com/v1/items?a=1&a=2&b=x+y#top"
        );
        assert!(url_from_parts(&bson::doc! {"path": "/x"}).is_err());
    }
}
