//! HTTPS endpoints (custom endpoints): `https_endpoints/config.json`, or the older
//! `http_endpoints/config.json` of 20210101 exports — an array of endpoints, each read with
//! `file:line:col` for every problem and "did you mean" for an unknown key.
//!
//! ```json
//! [ { "route": "/hello", "http_method": "GET", "function_name": "hello",
//!     "validation_method": "SECRET_AS_QUERY_PARAM", "secret_name": "hello_secret",
//!     "respond_result": true, "fetch_custom_user_data": false,
//!     "create_user_on_auth": false, "disabled": false } ]
//! ```
//!
//! When both files exist the app is refused (an error at the second): an export has one
//! layout, and two lists would make it ambiguous which endpoint a route means.

use std::path::Path;

use crate::diagnostic::{did_you_mean, Diagnostics};
use crate::expr::{ExprKind, Expression};
use crate::json::{Json, JsonKind};
use crate::Location;

/// The HTTP methods an endpoint may name (`*` matches any of them).
pub const ENDPOINT_METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "*"];

/// How a request proves it may call an endpoint, before any user authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// `NO_VALIDATION`.
    None,
    /// `SECRET_AS_QUERY_PARAM`: `?secret=<the Secret's value>`.
    SecretAsQueryParam {
        /// The Secret (`secret_name`).
        secret_name: String,
    },
    /// `VERIFY_PAYLOAD`: `Endpoint-Signature: sha256=<hex HMAC-SHA256 of the raw body>`.
    VerifyPayload {
        /// The Secret (`secret_name`).
        secret_name: String,
    },
}

/// How the response body of an endpoint answering with its function's result is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnType {
    /// Canonical Extended JSON (`{"$numberInt": "1"}`), the default.
    #[default]
    Ejson,
    /// Plain (relaxed) JSON.
    Json,
}

/// Who an endpoint's function runs as when the endpoint itself says so (otherwise the
/// function's own configuration decides, and without one the caller authenticates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointRunAs {
    /// `run_as_system: true`.
    System,
    /// `run_as_user_id`.
    UserId(String),
    /// `run_as_user_id_script_source`.
    Script(String),
}

/// One endpoint.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// `route`: starts with `/`.
    pub route: String,
    /// `http_method`: one of [`ENDPOINT_METHODS`].
    pub http_method: String,
    /// `function_name`: a function of `functions/config.json`.
    pub function_name: String,
    /// `validation_method` and `secret_name`.
    pub validation: Validation,
    /// `respond_result`: the function's return value is the body (else 204 unless the function
    /// set a body or status).
    pub respond_result: bool,
    /// `fetch_custom_user_data`: otherwise `context.user.custom_data` is `{}`.
    pub fetch_custom_user_data: bool,
    /// `create_user_on_auth`: credentials whose identity has no user yet create one.
    pub create_user_on_auth: bool,
    /// `disabled`: the route answers 404.
    pub disabled: bool,
    /// `return_type` (`EJSON` by default).
    pub return_type: ReturnType,
    /// `run_as_system` / `run_as_user_id` / `run_as_user_id_script_source` on the endpoint.
    pub run_as: Option<EndpointRunAs>,
    /// `can_evaluate` on the endpoint (checked like the function's).
    pub can_evaluate: Option<Expression>,
    /// Where it is configured.
    pub at: Location,
}

impl EndpointConfig {
    /// Whether this endpoint takes `method` (`*` takes every method).
    ///
    /// ```
    /// # let json = expanse::json::parse(r#"[{"route": "/a", "http_method": "*", "function_name": "f"}]"#, "c.json").unwrap();
    /// # let mut found = expanse::diagnostic::Diagnostics::default();
    /// let endpoints = expanse::app::read_endpoints(&json, &mut found);
    /// assert!(endpoints[0].takes("PATCH"));
    /// ```
    pub fn takes(&self, method: &str) -> bool {
        self.http_method == "*" || self.http_method.eq_ignore_ascii_case(method)
    }
}

const KNOWN: [&str; 15] = [
    "route",
    "http_method",
    "function_name",
    "validation_method",
    "verification_method",
    "secret_name",
    "respond_result",
    "fetch_custom_user_data",
    "create_user_on_auth",
    "disabled",
    "return_type",
    "run_as_system",
    "run_as_user_id",
    "run_as_user_id_script_source",
    "can_evaluate",
];

/// The endpoints file of an app directory, if any: `https_endpoints/config.json`, else
/// `http_endpoints/config.json`; both present is an error at the second.
pub(super) fn endpoints_file(dir: &Path, found: &mut Diagnostics) -> Option<std::path::PathBuf> {
    let https = dir.join("https_endpoints").join("config.json");
    let http = dir.join("http_endpoints").join("config.json");
    match (https.is_file(), http.is_file()) {
        (true, true) => {
            found.error(
                &Location::new(http.display().to_string(), 1, 1),
                format!(
                    "both {} and {} configure endpoints; keep one",
                    https.display(),
                    http.display()
                ),
                Some("move the endpoints into https_endpoints/config.json".into()),
            );
            None
        }
        (true, false) => Some(https),
        (false, true) => Some(http),
        (false, false) => None,
    }
}

/// Reads an endpoints file (an array of endpoints). Problems go to `found`; an endpoint with
/// an error is left out.
pub fn read_endpoints(json: &Json, found: &mut Diagnostics) -> Vec<EndpointConfig> {
    let JsonKind::Array(items) = &json.kind else {
        found.error(
            &json.at,
            format!("endpoints must be an array, found {}", json.kind_name()),
            None,
        );
        return Vec::new();
    };
    let mut out: Vec<EndpointConfig> = Vec::new();
    for item in items {
        let Some(endpoint) = read_endpoint(item, found) else {
            continue;
        };
        let clash = out.iter().any(|e| {
            e.route == endpoint.route
                && (e.http_method == endpoint.http_method
                    || e.http_method == "*"
                    || endpoint.http_method == "*")
        });
        if clash {
            found.error(
                &item.at,
                format!(
                    "endpoint {} {} is configured twice",
                    endpoint.http_method, endpoint.route
                ),
                None,
            );
            continue;
        }
        out.push(endpoint);
    }
    out
}

fn read_endpoint(json: &Json, found: &mut Diagnostics) -> Option<EndpointConfig> {
    let Some(members) = json.as_object() else {
        found.error(&json.at, "an endpoint must be an object", None);
        return None;
    };
    let errors_before = found.errors.len();
    let mut e = EndpointConfig {
        route: String::new(),
        http_method: String::new(),
        function_name: String::new(),
        validation: Validation::None,
        respond_result: false,
        fetch_custom_user_data: false,
        create_user_on_auth: false,
        disabled: false,
        return_type: ReturnType::default(),
        run_as: None,
        can_evaluate: None,
        at: json.at.clone(),
    };
    let mut validation: Option<(String, Location)> = None;
    let mut secret_name: Option<String> = None;
    let mut run_as_system = false;
    for m in members {
        let v = &m.value;
        match (m.key.as_str(), &v.kind) {
            ("route", JsonKind::String(s)) => {
                if !s.starts_with('/') {
                    found.error(
                        &v.at,
                        format!("an endpoint route must start with \"/\" (got {s:?})"),
                        Some(format!("write \"/{}\"", s.trim_start_matches('/'))),
                    );
                }
                e.route = s.clone();
            }
            ("http_method", JsonKind::String(s)) => {
                let upper = s.to_ascii_uppercase();
                if !ENDPOINT_METHODS.contains(&upper.as_str()) {
                    found.error(
                        &v.at,
                        format!("unknown http_method {s:?}: one of GET, POST, PUT, PATCH, DELETE or \"*\""),
                        did_you_mean(&upper, ENDPOINT_METHODS),
                    );
                }
                e.http_method = upper;
            }
            ("function_name", JsonKind::String(s)) => e.function_name = s.clone(),
            ("validation_method" | "verification_method", JsonKind::String(s)) => {
                validation = Some((s.clone(), v.at.clone()))
            }
            ("secret_name", JsonKind::String(s)) => {
                secret_name = (!s.is_empty()).then(|| s.clone())
            }
            ("respond_result", JsonKind::Bool(b)) => e.respond_result = *b,
            ("fetch_custom_user_data", JsonKind::Bool(b)) => e.fetch_custom_user_data = *b,
            ("create_user_on_auth", JsonKind::Bool(b)) => e.create_user_on_auth = *b,
            ("disabled", JsonKind::Bool(b)) => e.disabled = *b,
            ("return_type", JsonKind::String(s)) => match s.to_ascii_uppercase().as_str() {
                "EJSON" => e.return_type = ReturnType::Ejson,
                "JSON" => e.return_type = ReturnType::Json,
                _ => found.error(
                    &v.at,
                    format!("unknown return_type {s:?}: \"JSON\" or \"EJSON\""),
                    None,
                ),
            },
            ("run_as_system", JsonKind::Bool(b)) => run_as_system = *b,
            ("run_as_user_id", JsonKind::String(s)) if !s.is_empty() => {
                e.run_as = Some(EndpointRunAs::UserId(s.clone()))
            }
            ("run_as_user_id_script_source", JsonKind::String(s)) if !s.is_empty() => {
                if matches!(e.run_as, Some(EndpointRunAs::UserId(_))) {
                    found.error(
                        &v.at,
                        "run_as_user_id and run_as_user_id_script_source cannot be used together",
                        None,
                    );
                }
                e.run_as = Some(EndpointRunAs::Script(s.clone()))
            }
            ("run_as_user_id" | "run_as_user_id_script_source", JsonKind::String(_)) => {}
            ("can_evaluate", JsonKind::Object(members)) if members.is_empty() => {}
            ("can_evaluate", _) => match Expression::compile(v, ExprKind::CanEvaluate) {
                Ok(x) => e.can_evaluate = Some(x),
                Err(x) => found.errors.extend(x.diagnostics),
            },
            ("_id" | "id" | "function_id", _) => {}
            (key, _) if KNOWN.contains(&key) => found.error(
                &v.at,
                format!(
                    "endpoint key {key:?} has the wrong type ({} given)",
                    v.kind_name()
                ),
                None,
            ),
            (key, _) => found.unknown_key(key, &m.key_at, &KNOWN, "an endpoint"),
        }
    }
    if run_as_system {
        e.run_as = Some(EndpointRunAs::System);
    }
    for (key, value) in [
        ("route", &e.route),
        ("http_method", &e.http_method),
        ("function_name", &e.function_name),
    ] {
        if value.is_empty() {
            found.error(&json.at, format!("an endpoint needs a {key:?}"), None);
        }
    }
    if let Some((method, at)) = validation {
        let need_secret = |found: &mut Diagnostics| match &secret_name {
            Some(name) => Some(name.clone()),
            None => {
                found.error(
                    &at,
                    format!("validation_method {method} needs a \"secret_name\""),
                    None,
                );
                None
            }
        };
        match method.as_str() {
            "NO_VALIDATION" => {}
            "SECRET_AS_QUERY_PARAM" => {
                if let Some(secret_name) = need_secret(found) {
                    e.validation = Validation::SecretAsQueryParam { secret_name };
                }
            }
            "VERIFY_PAYLOAD" => {
                if let Some(secret_name) = need_secret(found) {
                    e.validation = Validation::VerifyPayload { secret_name };
                }
            }
            other => found.error(
                &at,
                format!("unknown validation_method {other:?}"),
                did_you_mean(
                    other,
                    ["NO_VALIDATION", "SECRET_AS_QUERY_PARAM", "VERIFY_PAYLOAD"],
                ),
            ),
        }
    }
    (found.errors.len() == errors_before).then_some(e)
}
