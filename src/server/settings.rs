//! What the server needs from the app directory beyond what the library loads
//! (`root_config.json`'s `app_id` and `allowed_request_origins`), and its own limits.

use std::path::Path;
use std::time::Duration;

/// App Services' request size limit (reference §5.4): 18 MB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 18 * 1024 * 1024;
/// Longer than the functions' own 300 s limit, so a function's timeout is reported as the
/// function's.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(330);

/// The server's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The client app id the routes answer to (`/api/client/v2.0/app/{id}/…`).
    pub app_id: String,
    /// Origins browsers may call from (`allowed_request_origins`); empty: any.
    pub allowed_origins: Vec<String>,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// How long a request may take (watch streams excepted).
    pub request_timeout: Duration,
    /// The origin clients reach this server at (`location`'s `hostname`); by default
    /// `http://` and the request's `Host` header.
    pub public_url: Option<String>,
    /// `location`'s `location` and `deployment_model`.
    pub location: String,
    /// `location`'s `deployment_model`.
    pub deployment_model: String,
    /// Whether the server itself serves HTTPS (`--tls-cert`): `location` then reports
    /// `https://` when no public URL is set.
    pub tls: bool,
}

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// `root_config.json` (or `config.json`) could not be read.
    #[error("{file}: {message}")]
    Config {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// No app id in the configuration nor on the command line.
    #[error("no app id: give --app-id (or EXPANSE_APP_ID), or set app_id in root_config.json")]
    NoAppId,
}

impl Settings {
    /// Reads `root_config.json` (`config.json` in older exports) of `app_dir`; `app_id`
    /// overrides the file's.
    pub fn load(app_dir: &Path, app_id: Option<String>) -> Result<Settings, SettingsError> {
        let mut config = serde_json::Value::Null;
        for name in ["root_config.json", "config.json"] {
            let path = app_dir.join(name);
            if !path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| SettingsError::Config {
                file: path.display().to_string(),
                message: e.to_string(),
            })?;
            config = serde_json::from_str(&text).map_err(|e| SettingsError::Config {
                file: path.display().to_string(),
                message: e.to_string(),
            })?;
            break;
        }
        let text = |key: &str| config.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let app_id = app_id
            .or_else(|| text("app_id"))
            .filter(|id| !id.is_empty())
            .ok_or(SettingsError::NoAppId)?;
        let allowed_origins = config
            .get("allowed_request_origins")
            .and_then(|v| v.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(|s| s.trim_end_matches('/').to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Settings {
            app_id,
            allowed_origins,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            public_url: None,
            location: text("location").unwrap_or_else(|| "US-VA".into()),
            deployment_model: text("deployment_model").unwrap_or_else(|| "GLOBAL".into()),
            tls: false,
        })
    }
}
