//! Loading an exported App Services app directory, unchanged, into one compiled, immutable
//! [`App`] (the export format: https://www.mongodb.com/docs/atlas/app-services/reference/config/).
//!
//! ```no_run
//! let loaded = expanse::App::load("fixtures/app").unwrap();
//! for warning in &loaded.warnings {
//!     eprintln!("warning: {warning}");
//! }
//! let rules = loaded.app.rules("mongodb-atlas", "notes", "notes").unwrap();
//! ```

mod collection;
mod config;
mod endpoints;
mod error;
mod load;
mod providers;
mod settings;

use std::collections::BTreeMap;
use std::path::PathBuf;

use bson::Document;

pub use config::{CustomUserDataConfig, DataSourceConfig, FunctionConfig, TriggerConfig};
pub use endpoints::{
    read_endpoints, EndpointConfig, EndpointRunAs, ReturnType, Validation, ENDPOINT_METHODS,
};
pub use error::{LoadError, NoMatchingRule};
pub use providers::{AuthProviderConfig, MetadataField, PROVIDER_TYPES};
pub use settings::{HttpSettings, QuerySettings, DEFAULT_HTTP_MAX_RESPONSE_BYTES};

use crate::diagnostic::Diagnostic;
use crate::rules::CollectionRules;

/// A loaded app.
#[derive(Debug, Clone)]
pub struct App {
    /// The app directory.
    pub dir: PathBuf,
    /// `name` from the root config.
    pub name: String,
    /// The environment tag (`""`, `development`, `testing`, `qa`, `production`).
    pub environment_tag: String,
    /// `%%values`: value name → value.
    pub values: Document,
    /// `%%environment`: `{tag, values}`.
    pub environment: Document,
    /// Data sources by service name.
    pub data_sources: BTreeMap<String, DataSource>,
    /// `functions/config.json` entries by name.
    pub functions: BTreeMap<String, FunctionConfig>,
    /// `auth/custom_user_data.json`, when present.
    pub custom_user_data: Option<CustomUserDataConfig>,
    /// Triggers by name.
    pub triggers: BTreeMap<String, TriggerConfig>,
    /// Authentication providers by name (`auth/providers.json`).
    pub auth_providers: BTreeMap<String, AuthProviderConfig>,
    /// The client App ID (`.mdb/meta.json` `client_app_id` or `realm_config.json` `app_id`),
    /// the default audience of custom JWTs; empty when the export has none.
    pub app_id: String,
    /// Expanse's query settings (`"expanse"` in the root config).
    pub query: QuerySettings,
    /// HTTPS endpoints (`https_endpoints/config.json` or `http_endpoints/config.json`).
    pub endpoints: Vec<EndpointConfig>,
    /// What `context.http` may reach (`"expanse": {"http": …}` in the root config).
    pub http: HttpSettings,
}

/// A data source with its rules.
#[derive(Debug, Clone)]
pub struct DataSource {
    /// `config.json`.
    pub config: DataSourceConfig,
    /// `<db>/<coll>/rules.json` by (database, collection).
    pub collections: BTreeMap<(String, String), CollectionRules>,
    /// `default_rule.json`.
    pub default_rules: Option<CollectionRules>,
    /// `<db>/<coll>/schema.json` by (database, collection), as loaded (its `validate`
    /// expressions are checked at load; schema enforcement is not implemented yet).
    pub schemas: BTreeMap<(String, String), Document>,
}

impl DataSource {
    /// A MongoDB data source named `name` with no rules yet.
    pub fn new(name: String) -> DataSource {
        DataSource {
            config: DataSourceConfig {
                name,
                source_type: "mongodb-atlas".into(),
                config: Document::new(),
            },
            collections: BTreeMap::new(),
            default_rules: None,
            schemas: BTreeMap::new(),
        }
    }
}

/// A loaded app and the warnings found while loading it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The app.
    pub app: App,
    /// Warnings (the app is usable).
    pub warnings: Vec<Diagnostic>,
}

impl App {
    /// Loads an app directory; fails with every problem found.
    pub fn load(dir: impl Into<PathBuf>) -> Result<Loaded, LoadError> {
        load::load(dir.into())
    }

    /// The rules governing a namespace: the collection's own `rules.json`, else the data
    /// source's `default_rule.json`, else [`NoMatchingRule`].
    pub fn rules(
        &self,
        service: &str,
        database: &str,
        collection: &str,
    ) -> Result<&CollectionRules, NoMatchingRule> {
        let source = self.data_sources.get(service);
        source
            .and_then(|s| {
                s.collections
                    .get(&(database.to_owned(), collection.to_owned()))
                    .or(s.default_rules.as_ref())
            })
            .ok_or_else(|| NoMatchingRule {
                database: database.to_owned(),
                collection: collection.to_owned(),
            })
    }

    /// The first data source's name (`mongodb-atlas` in most exports).
    pub fn default_service(&self) -> Option<&str> {
        self.data_sources
            .keys()
            .find(|k| k.as_str() == "mongodb-atlas")
            .or_else(|| self.data_sources.keys().next())
            .map(String::as_str)
    }
}
