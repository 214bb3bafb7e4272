//! App-level configuration besides rules: functions, custom user data, triggers, values.

use bson::{Bson, Document};

use crate::expr::Expression;
use crate::Location;

/// One entry of `functions/config.json`.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// `name` (matches `functions/<name>.js`).
    pub name: String,
    /// Where the entry is.
    pub at: Location,
    /// `private`: not callable from clients.
    pub private: bool,
    /// `can_evaluate` (missing or empty: any authenticated call).
    pub can_evaluate: Option<Expression>,
    /// `disable_arg_logs`.
    pub disable_arg_logs: bool,
    /// `run_as_system`.
    pub run_as_system: bool,
    /// `run_as_user_id` (empty string counts as unset).
    pub run_as_user_id: Option<String>,
    /// `run_as_user_id_script_source`.
    pub run_as_user_id_script_source: Option<String>,
    /// The JavaScript source file, when present.
    pub source_file: Option<std::path::PathBuf>,
    /// The JavaScript source, read once when the app loads.
    pub source: Option<std::sync::Arc<str>>,
}

impl FunctionConfig {
    /// The settings App Services gives a function without an entry: public, application
    /// authentication, no `can_evaluate`.
    pub fn with_defaults(
        name: String,
        at: Location,
        source_file: Option<std::path::PathBuf>,
    ) -> FunctionConfig {
        FunctionConfig {
            name,
            at,
            private: false,
            can_evaluate: None,
            disable_arg_logs: false,
            run_as_system: false,
            run_as_user_id: None,
            run_as_user_id_script_source: None,
            source_file,
            source: None,
        }
    }
}

/// `auth/custom_user_data.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomUserDataConfig {
    /// `enabled`.
    pub enabled: bool,
    /// `mongo_service_name`.
    pub mongo_service_name: String,
    /// `database_name`.
    pub database_name: String,
    /// `collection_name`.
    pub collection_name: String,
    /// `user_id_field`.
    pub user_id_field: String,
    /// `on_user_creation_function_name`.
    pub on_user_creation_function_name: Option<String>,
}

/// A trigger (`triggers/<name>.json`), in either config spelling.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerConfig {
    /// `name`.
    pub name: String,
    /// `DATABASE`, `AUTHENTICATION` or `SCHEDULED`.
    pub trigger_type: String,
    /// `disabled`.
    pub disabled: bool,
    /// The function it runs (`event_processors.FUNCTION.config.function_name` or top-level
    /// `function_name`).
    pub function_name: Option<String>,
    /// Operation types (`LOGIN`, `CREATE`, `DELETE`, `INSERT`, …), one or several.
    pub operation_types: Vec<String>,
    /// Auth providers (authentication triggers).
    pub providers: Vec<String>,
    /// The whole `config` object.
    pub config: Document,
    /// `error_handler` (`{config: {enabled, function_name}}`), when present.
    pub error_handler: Option<Document>,
}

/// A data source (`data_sources/<name>/config.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct DataSourceConfig {
    /// The service name (`mongodb-atlas`).
    pub name: String,
    /// `type` (`mongodb-atlas`, `datalake`).
    pub source_type: String,
    /// `config`.
    pub config: Document,
}

/// `%%environment`: the tag and the values of the current environment.
pub(crate) fn environment_document(tag: &str, values: &Document) -> Document {
    let mut env = Document::new();
    env.insert("tag", tag);
    env.insert("values", Bson::Document(values.clone()));
    env
}
