//! `auth/providers.json` (and the legacy `auth_providers/<name>.json`): the authentication
//! providers of an app (https://www.mongodb.com/docs/atlas/app-services/reference/config/auth/), read with `file:line:col` for every problem.

use std::collections::BTreeMap;

use bson::Document;

use crate::diagnostic::Diagnostic;
use crate::json::{self, Json, JsonKind};
use crate::Location;

/// The provider types Expanse runs.
pub const PROVIDER_TYPES: [&str; 5] = [
    "anon-user",
    "local-userpass",
    "api-key",
    "custom-token",
    "custom-function",
];

/// Provider types App Services has that Expanse does not run (loaded, warned about, refused at
/// login).
const UNSUPPORTED_TYPES: [&str; 3] = ["oauth2-google", "oauth2-facebook", "oauth2-apple"];

/// One `metadata_fields` entry (custom JWT).
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataField {
    /// `required`: a token without the path is refused.
    pub required: bool,
    /// `name`: a dotted path in the JWT's claims (`\.` is a literal dot).
    pub name: String,
    /// `field_name`: the key in `user.data` (default: the path's last segment).
    pub field_name: Option<String>,
}

impl MetadataField {
    /// The path's segments (`\.` unescaped to a literal dot).
    ///
    /// ```
    /// use expanse::app::MetadataField;
    /// let f = MetadataField { required: true, name: r"user.first\.name".into(), field_name: None };
    /// assert_eq!(f.segments(), ["user", "first.name"]);
    /// assert_eq!(f.key(), "first.name");
    /// ```
    pub fn segments(&self) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut chars = self.name.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'.') => {
                    chars.next();
                    if let Some(last) = out.last_mut() {
                        last.push('.');
                    }
                }
                '.' => out.push(String::new()),
                c => {
                    if let Some(last) = out.last_mut() {
                        last.push(c);
                    }
                }
            }
        }
        out
    }

    /// The key the value lands under in `user.data`.
    pub fn key(&self) -> String {
        match &self.field_name {
            Some(f) if !f.is_empty() => f.clone(),
            _ => self.segments().pop().unwrap_or_default(),
        }
    }
}

/// One authentication provider, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthProviderConfig {
    /// `name` (equals the type in App Services).
    pub name: String,
    /// `type`.
    pub provider_type: String,
    /// `disabled`: no login with it.
    pub disabled: bool,
    /// `config`.
    pub config: Document,
    /// `secret_config`: option → name of a Secret.
    pub secret_config: Document,
    /// `metadata_fields`.
    pub metadata_fields: Vec<MetadataField>,
    /// Where it is configured.
    pub at: Location,
}

impl AuthProviderConfig {
    /// A config string option.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.config.get_str(key).ok().filter(|s| !s.is_empty())
    }

    /// A config boolean option (missing: `false`).
    pub fn flag(&self, key: &str) -> bool {
        self.config.get_bool(key).unwrap_or(false)
    }
}

/// Reads providers from `auth/providers.json` (an object keyed by name, or an array) or one
/// provider of a legacy `auth_providers/<name>.json`. Problems go to `errors` / `warnings`.
pub(super) fn read(
    json: &Json,
    single: bool,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
    out: &mut BTreeMap<String, AuthProviderConfig>,
) {
    let push = |at: &Location, message: String, list: &mut Vec<Diagnostic>| {
        list.push(Diagnostic {
            at: at.clone(),
            message,
            hint: None,
        })
    };
    let entries: Vec<(Option<&str>, &Json)> = match (&json.kind, single) {
        (JsonKind::Object(_), true) => vec![(None, json)],
        (JsonKind::Object(members), false) => members
            .iter()
            .map(|m| (Some(m.key.as_str()), &m.value))
            .collect(),
        (JsonKind::Array(items), false) => items.iter().map(|i| (None, i)).collect(),
        _ => {
            push(
                &json.at,
                format!(
                    "auth providers must be an object keyed by provider name, found {}",
                    json.kind_name()
                ),
                errors,
            );
            return;
        }
    };
    for (key, entry) in entries {
        if let Some(p) = provider(key, entry, errors, warnings) {
            if out.contains_key(&p.name) {
                push(
                    &p.at,
                    format!("provider {:?} is configured twice", p.name),
                    errors,
                );
                continue;
            }
            out.insert(p.name.clone(), p);
        }
    }
}

fn provider(
    key: Option<&str>,
    json: &Json,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> Option<AuthProviderConfig> {
    let error = |errors: &mut Vec<Diagnostic>, at: &Location, message: String| {
        errors.push(Diagnostic {
            at: at.clone(),
            message,
            hint: None,
        })
    };
    if json.as_object().is_none() {
        error(
            errors,
            &json.at,
            format!("a provider must be an object, found {}", json.kind_name()),
        );
        return None;
    }
    let text = |k: &str| match json.get(k).map(|j| &j.kind) {
        Some(JsonKind::String(s)) => Some(s.clone()),
        _ => None,
    };
    let Some(provider_type) = text("type").or_else(|| key.map(str::to_owned)) else {
        error(errors, &json.at, "a provider needs a \"type\"".into());
        return None;
    };
    let type_at = json.get("type").map_or(&json.at, |j| &j.at).clone();
    if UNSUPPORTED_TYPES.contains(&provider_type.as_str()) {
        warnings.push(Diagnostic {
            at: type_at,
            message: format!("provider type {provider_type:?} is not supported by Expanse: its logins are refused"),
            hint: None,
        });
        return None;
    }
    if !PROVIDER_TYPES.contains(&provider_type.as_str()) {
        errors.push(Diagnostic {
            at: type_at,
            message: format!("unknown provider type {provider_type:?}"),
            hint: crate::suggest::closest(&provider_type, PROVIDER_TYPES)
                .map(|s| format!("did you mean {s:?}?")),
        });
        return None;
    }
    let name = text("name").unwrap_or_else(|| provider_type.clone());
    if name != provider_type {
        warnings.push(Diagnostic {
            at: json.get("name").map_or(&json.at, |j| &j.at).clone(),
            message: format!(
                "provider {name:?}: App Services names a provider by its type ({provider_type:?})"
            ),
            hint: None,
        });
    }
    let disabled = match json.get("disabled").map(|j| &j.kind) {
        None | Some(JsonKind::Bool(false)) => false,
        Some(JsonKind::Bool(true)) => true,
        Some(_) => {
            error(
                errors,
                &json.get("disabled").map_or(&json.at, |j| &j.at).clone(),
                "\"disabled\" must be a boolean".into(),
            );
            false
        }
    };
    let document = |k: &str, errors: &mut Vec<Diagnostic>| match json.get(k) {
        None => Document::new(),
        Some(j) => match json::to_document(j) {
            Ok(d) => d,
            Err(e) => {
                error(errors, &e.at, format!("{k}: {}", e.message));
                Document::new()
            }
        },
    };
    let config = document("config", errors);
    let secret_config = document("secret_config", errors);
    let mut metadata_fields = Vec::new();
    if let Some(fields) = json.get("metadata_fields") {
        match &fields.kind {
            JsonKind::Array(items) => {
                for item in items {
                    match metadata_field(item) {
                        Ok(f) => metadata_fields.push(f),
                        Err(message) => error(errors, &item.at, message),
                    }
                }
            }
            _ => error(
                errors,
                &fields.at,
                "metadata_fields must be an array".into(),
            ),
        }
    }
    let p = AuthProviderConfig {
        name,
        provider_type,
        disabled,
        config,
        secret_config,
        metadata_fields,
        at: json.at.clone(),
    };
    check(&p, json, errors);
    Some(p)
}

fn metadata_field(json: &Json) -> Result<MetadataField, String> {
    let name = match json.get("name").map(|j| &j.kind) {
        Some(JsonKind::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err("a metadata field needs a \"name\"".into()),
    };
    let required = matches!(
        json.get("required").map(|j| &j.kind),
        Some(JsonKind::Bool(true))
    );
    let field_name = match json.get("field_name").map(|j| &j.kind) {
        Some(JsonKind::String(s)) if s.chars().count() >= 64 => {
            return Err("field_name must be shorter than 64 characters".into())
        }
        Some(JsonKind::String(s)) => Some(s.clone()),
        _ => None,
    };
    Ok(MetadataField {
        required,
        name,
        field_name,
    })
}

/// The per-type rules of the reference: exactly one confirmation mode, one reset mode, and a
/// function for function modes; HS256/RS256, JWK URIs only with RS256, at most three keys.
fn check(p: &AuthProviderConfig, json: &Json, errors: &mut Vec<Diagnostic>) {
    let at = |key: &str| {
        json.get("config")
            .and_then(|c| c.get(key))
            .map_or_else(|| json.at.clone(), |j| j.at.clone())
    };
    let mut fail = |at: Location, message: &str| {
        errors.push(Diagnostic {
            at,
            message: format!("provider {:?}: {message}", p.name),
            hint: None,
        })
    };
    match p.provider_type.as_str() {
        "local-userpass" => {
            let auto = p.flag("autoConfirm");
            let confirm_fn = p.flag("runConfirmationFunction");
            if !auto && confirm_fn && p.text("confirmationFunctionName").is_none() {
                fail(
                    at("runConfirmationFunction"),
                    "runConfirmationFunction needs confirmationFunctionName",
                );
            }
            if !auto && !confirm_fn && p.text("emailConfirmationUrl").is_none() {
                fail(
                    json.at.clone(),
                    "choose a confirmation mode: autoConfirm, runConfirmationFunction or emailConfirmationUrl",
                );
            }
            if p.flag("runResetFunction") && p.text("resetFunctionName").is_none() {
                fail(
                    at("runResetFunction"),
                    "runResetFunction needs resetFunctionName",
                );
            }
            for subject in ["confirmEmailSubject", "resetPasswordSubject"] {
                if p.text(subject).is_some_and(|s| s.chars().count() > 256) {
                    fail(at(subject), "an email subject has at most 256 characters");
                }
            }
        }
        "custom-token" => {
            let algorithm = p.text("signingAlgorithm").unwrap_or("HS256");
            if !matches!(algorithm, "HS256" | "RS256") {
                fail(
                    at("signingAlgorithm"),
                    "signingAlgorithm must be HS256 or RS256",
                );
            }
            if p.flag("useJWKURI") {
                match p.text("jwkURI") {
                    None => fail(at("useJWKURI"), "useJWKURI needs jwkURI"),
                    Some(uri) if uri.starts_with("http:") || uri.starts_with("https:") => {
                        if let Err(e) = crate::auth::check_jwk_url(uri) {
                            fail(at("jwkURI"), &e.to_string());
                        }
                    }
                    Some(_) => {}
                }
                if algorithm != "RS256" {
                    fail(at("signingAlgorithm"), "a JWK URI requires RS256");
                }
            } else {
                let keys = match p.secret_config.get("signingKeys") {
                    Some(bson::Bson::Array(items)) => items.len(),
                    Some(bson::Bson::String(_)) => 1,
                    _ => 0,
                };
                if keys == 0 {
                    fail(
                        json.at.clone(),
                        "secret_config.signingKeys names no signing key",
                    );
                }
                if keys > 3 {
                    fail(json.at.clone(), "at most 3 signing keys");
                }
            }
        }
        "custom-function" if p.text("authFunctionName").is_none() => {
            fail(
                at("authFunctionName"),
                "config.authFunctionName is required",
            );
        }
        _ => {}
    }
}
