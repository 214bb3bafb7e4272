//! Reading the files of an app directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bson::{Bson, Document};

use super::config::{
    environment_document, CustomUserDataConfig, DataSourceConfig, FunctionConfig, TriggerConfig,
};
use super::{App, DataSource, LoadError, Loaded};
use crate::diagnostic::{did_you_mean, Diagnostic, Diagnostics};
use crate::expr::{ExprKind, Expression};
use crate::json::{self, Json, JsonKind};
use crate::rules::{flexible_sync_role, Reader};
use crate::Location;

struct Loader {
    dir: PathBuf,
    found: Diagnostics,
}

pub(super) fn load(dir: PathBuf) -> Result<Loaded, LoadError> {
    let mut loader = Loader {
        dir,
        found: Diagnostics::default(),
    };
    let app = loader.app();
    let Diagnostics { errors, warnings } = loader.found;
    if errors.is_empty() {
        Ok(Loaded { app, warnings })
    } else {
        Err(LoadError { errors, warnings })
    }
}

fn at_file(path: &Path) -> Location {
    Location::new(path.display().to_string(), 1, 1)
}

/// Sorted directory entries (deterministic loading and messages).
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    out.sort();
    out
}

impl Loader {
    fn error(&mut self, at: Location, message: impl Into<String>) {
        self.found.error(&at, message, None);
    }

    fn warn(&mut self, at: Location, message: impl Into<String>) {
        self.found.warn(&at, message, None);
    }

    /// Reads and parses a JSON file; `None` (with an error) if unreadable or invalid.
    fn read(&mut self, path: &Path) -> Option<Json> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.error(at_file(path), format!("cannot read file: {e}"));
                return None;
            }
        };
        match json::parse(&text, &path.display().to_string()) {
            Ok(j) => Some(j),
            Err(e) => {
                self.error(e.at, e.message);
                None
            }
        }
    }

    fn read_optional(&mut self, path: &Path) -> Option<Json> {
        path.is_file().then(|| self.read(path)).flatten()
    }

    fn reader(&mut self) -> Reader<'_> {
        Reader {
            found: &mut self.found,
        }
    }

    fn app(&mut self) -> App {
        let dir = self.dir.clone();
        let mut app = App {
            dir: dir.clone(),
            name: String::new(),
            environment_tag: String::new(),
            values: Document::new(),
            environment: Document::new(),
            data_sources: BTreeMap::new(),
            functions: BTreeMap::new(),
            custom_user_data: None,
            triggers: BTreeMap::new(),
            auth_providers: BTreeMap::new(),
            app_id: String::new(),
            query: Default::default(),
            endpoints: Vec::new(),
            http: Default::default(),
        };
        if !dir.is_dir() {
            self.error(at_file(&dir), "not an app directory");
            return app;
        }
        self.root_config(&mut app);
        self.values(&mut app);
        self.environment(&mut app);
        self.data_sources(&mut app);
        self.legacy_services(&mut app);
        self.flexible_sync_permissions(&mut app);
        self.functions(&mut app);
        self.custom_user_data(&mut app);
        self.triggers(&mut app);
        self.auth_providers(&mut app);
        self.endpoints(&mut app);
        self.functions_without_source(&app);
        app
    }

    fn root_config(&mut self, app: &mut App) {
        let candidates = [
            "root_config.json",
            "realm_config.json",
            "config.json",
            "stitch.json",
        ];
        let Some(path) = candidates
            .iter()
            .map(|c| self.dir.join(c))
            .find(|p| p.is_file())
        else {
            self.warn(
                Location::whole(format!("{}/", self.dir.display())),
                "the app directory has no root_config.json (nor realm_config.json / config.json)",
            );
            return;
        };
        let Some(json) = self.read(&path) else { return };
        if let Some(JsonKind::String(name)) = json.get("name").map(|j| &j.kind) {
            app.name = name.clone();
        }
        if let Some(JsonKind::String(env)) = json.get("environment").map(|j| &j.kind) {
            app.environment_tag = env.clone();
        }
        if let Some(JsonKind::String(id)) = json.get("app_id").map(|j| &j.kind) {
            app.app_id = id.clone();
        }
        let meta = self.dir.join(".mdb").join("meta.json");
        if let Some(meta) = self.read_optional(&meta) {
            if let Some(JsonKind::String(id)) = meta.get("client_app_id").map(|j| &j.kind) {
                app.app_id = id.clone();
            }
        }
        if let Some(expanse) = json.get("expanse") {
            self.query_settings(expanse, app);
            if let Some(http) = expanse.get("http") {
                self.http_settings(http, app);
            }
        }
    }

    /// `"expanse": {"query_semantics": "8.0" | "9.0", "allow_user_regex": bool}`.
    fn query_settings(&mut self, expanse: &Json, app: &mut App) {
        if !matches!(expanse.kind, JsonKind::Object(_)) {
            self.error(expanse.at.clone(), "\"expanse\" must be an object");
            return;
        }
        if let Some(release) = expanse.get("query_semantics") {
            match &release.kind {
                JsonKind::String(r) if crate::query::NullSemantics::parse(r).is_some() => {
                    app.query.null_semantics =
                        crate::query::NullSemantics::parse(r).unwrap_or_default();
                }
                _ => self.error(
                    release.at.clone(),
                    "\"query_semantics\" must be \"8.0\" or \"9.0\"",
                ),
            }
        }
        if let Some(allow) = expanse.get("allow_user_regex") {
            match allow.kind {
                JsonKind::Bool(b) => app.query.allow_user_regex = b,
                _ => self.error(
                    allow.at.clone(),
                    "\"allow_user_regex\" must be true or false",
                ),
            }
        }
    }

    /// `"expanse": {"http": {"allowed_hosts": [host, …], "max_response_bytes": n}}`.
    fn http_settings(&mut self, http: &Json, app: &mut App) {
        let Some(members) = http.as_object() else {
            self.error(
                http.at.clone(),
                "\"http\" must be an object: {\"allowed_hosts\": [...], \"max_response_bytes\": n}",
            );
            return;
        };
        for member in members {
            match member.key.as_str() {
                "allowed_hosts" => {
                    let JsonKind::Array(items) = &member.value.kind else {
                        self.error(
                            member.value.at.clone(),
                            "\"allowed_hosts\" must be an array of host names",
                        );
                        continue;
                    };
                    for item in items {
                        match &item.kind {
                            JsonKind::String(host) => {
                                match super::settings::host_pattern_problem(host) {
                                    None => app.http.allowed_hosts.push(host.to_ascii_lowercase()),
                                    Some(problem) => {
                                        self.error(item.at.clone(), format!("{problem}: {host:?}"))
                                    }
                                }
                            }
                            _ => self.error(item.at.clone(), "an allowed host must be a string"),
                        }
                    }
                }
                "max_response_bytes" => match &member.value.kind {
                    JsonKind::Number(n) if n.parse::<usize>().is_ok_and(|n| n > 0) => {
                        app.http.max_response_bytes = n.parse().unwrap_or_default();
                    }
                    _ => self.error(
                        member.value.at.clone(),
                        "\"max_response_bytes\" must be a positive whole number",
                    ),
                },
                other => {
                    let hint = did_you_mean(other, ["allowed_hosts", "max_response_bytes"]);
                    self.error(
                        member.key_at.clone(),
                        format!(
                            "unknown key {other:?} in \"http\"{}",
                            hint.map(|h| format!(" ({h})")).unwrap_or_default()
                        ),
                    );
                }
            }
        }
    }

    fn values(&mut self, app: &mut App) {
        for path in entries(&self.dir.join("values")) {
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let Some(json) = self.read(&path) else {
                continue;
            };
            let name = match json.get("name").map(|j| &j.kind) {
                Some(JsonKind::String(n)) => n.clone(),
                _ => path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_owned(),
            };
            let from_secret = matches!(
                json.get("from_secret").map(|j| &j.kind),
                Some(JsonKind::Bool(true))
            );
            let Some(value) = json.get("value") else {
                self.error(json.at.clone(), format!("value {name:?} has no \"value\""));
                continue;
            };
            if from_secret {
                // Secrets are never exported; they come from the environment.
                let secret = match &value.kind {
                    JsonKind::String(s) => s.clone(),
                    _ => name.clone(),
                };
                let variable = format!("EXPANSE_SECRET_{secret}");
                match std::env::var(&variable) {
                    Ok(v) => {
                        app.values.insert(name, v);
                    }
                    Err(_) => self.warn(value.at.clone(), format!("value {name:?} is linked to secret {secret:?}; set {variable} to provide it (until then it is missing)")),
                }
                continue;
            }
            match json::to_bson(value) {
                Ok(v) => {
                    app.values.insert(name, v);
                }
                Err(e) => self.error(e.at, e.message),
            }
        }
    }

    fn environment(&mut self, app: &mut App) {
        let file = if app.environment_tag.is_empty() {
            "no-environment".to_owned()
        } else {
            app.environment_tag.clone()
        };
        let path = self.dir.join("environments").join(format!("{file}.json"));
        let mut values = Document::new();
        if let Some(json) = self.read_optional(&path) {
            match json.get("values").map(json::to_document) {
                Some(Ok(v)) => values = v,
                Some(Err(e)) => self.error(e.at, e.message),
                None => {}
            }
        }
        app.environment = environment_document(&app.environment_tag, &values);
    }

    fn data_sources(&mut self, app: &mut App) {
        for source_dir in entries(&self.dir.join("data_sources")) {
            if !source_dir.is_dir() {
                continue;
            }
            let dir_name = source_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            let mut config = DataSourceConfig {
                name: dir_name.clone(),
                source_type: "mongodb-atlas".into(),
                config: Document::new(),
            };
            if let Some(json) = self.read_optional(&source_dir.join("config.json")) {
                if let Some(JsonKind::String(n)) = json.get("name").map(|j| &j.kind) {
                    config.name = n.clone();
                }
                if let Some(JsonKind::String(t)) = json.get("type").map(|j| &j.kind) {
                    config.source_type = t.clone();
                }
                if let Some(Ok(c)) = json.get("config").map(json::to_document) {
                    config.config = c;
                }
            }
            let mut source = DataSource {
                config,
                collections: BTreeMap::new(),
                default_rules: None,
                schemas: BTreeMap::new(),
            };
            let default_path = source_dir.join("default_rule.json");
            if let Some(json) = self.read_optional(&default_path) {
                let file = default_path.display().to_string();
                source.default_rules = Some(self.reader().rules(&json, &file, true));
            }
            for db_dir in entries(&source_dir).into_iter().filter(|p| p.is_dir()) {
                let database = db_dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_owned();
                for coll_dir in entries(&db_dir).into_iter().filter(|p| p.is_dir()) {
                    let collection = coll_dir
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default()
                        .to_owned();
                    if let Some(schema) = self.read_optional(&coll_dir.join("schema.json")) {
                        self.schema_expressions(&schema);
                        match json::to_document(&schema) {
                            Ok(doc) => {
                                source
                                    .schemas
                                    .insert((database.clone(), collection.clone()), doc);
                            }
                            Err(e) => self.error(e.at, e.message),
                        }
                    }
                    let rules_path = coll_dir.join("rules.json");
                    let Some(json) = self.read_optional(&rules_path) else {
                        continue;
                    };
                    self.check_namespace(&json, &database, &collection);
                    let file = rules_path.display().to_string();
                    let rules = self.reader().rules(&json, &file, false);
                    source
                        .collections
                        .insert((database.clone(), collection), rules);
                }
            }
            let name = source.config.name.clone();
            if source.config.source_type == "datalake"
                && (!source.collections.is_empty() || source.default_rules.is_some())
            {
                self.warn(at_file(&source_dir), format!("data source {name:?} is federated: App Services ignores rules there (system functions only)"));
            }
            app.data_sources.insert(name, source);
        }
    }

    /// Checks every `validate` expression of a schema (App Services' extension to JSON Schema).
    fn schema_expressions(&mut self, json: &Json) {
        match &json.kind {
            JsonKind::Object(members) => {
                for m in members {
                    if m.key == "validate" {
                        if let Err(e) = Expression::compile(&m.value, ExprKind::SchemaValidate) {
                            self.found.errors.extend(e.diagnostics);
                        }
                    } else {
                        self.schema_expressions(&m.value);
                    }
                }
            }
            JsonKind::Array(items) => items.iter().for_each(|i| self.schema_expressions(i)),
            _ => {}
        }
    }

    /// `database`/`collection` in a rules file must agree with its directory.
    fn check_namespace(&mut self, json: &Json, database: &str, collection: &str) {
        for (key, expected) in [("database", database), ("collection", collection)] {
            if let Some(value) = json.get(key) {
                if let JsonKind::String(s) = &value.kind {
                    if s != expected {
                        self.error(
                            value.at.clone(),
                            format!("{key} {s:?} does not match its directory {expected:?}"),
                        );
                    }
                }
            }
        }
    }

    /// Config v20180301: `services/<svc>/rules/<name>.json` with `database` and `collection`.
    fn legacy_services(&mut self, app: &mut App) {
        for service_dir in entries(&self.dir.join("services")) {
            let service = service_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            for path in entries(&service_dir.join("rules")) {
                let Some(json) = self.read(&path) else {
                    continue;
                };
                let (Some(JsonKind::String(db)), Some(JsonKind::String(coll))) = (
                    json.get("database").map(|j| &j.kind),
                    json.get("collection").map(|j| &j.kind),
                ) else {
                    self.error(
                        json.at.clone(),
                        "a legacy rule file needs \"database\" and \"collection\"",
                    );
                    continue;
                };
                let (db, coll) = (db.clone(), coll.clone());
                let file = path.display().to_string();
                let rules = self.reader().rules(&json, &file, false);
                let source = app
                    .data_sources
                    .entry(service.clone())
                    .or_insert_with(|| DataSource::new(service.clone()));
                source.collections.entry((db, coll)).or_insert(rules);
            }
        }
    }

    /// Pre-2023 Flexible Sync permissions in `sync/config.json`:
    /// `{"database_name", "permissions": {"rules": {"<Coll>": [roles]}, "defaultRoles": [...]}}`.
    /// They fill in only where no current-format rules exist.
    fn flexible_sync_permissions(&mut self, app: &mut App) {
        let path = self.dir.join("sync").join("config.json");
        let Some(json) = self.read_optional(&path) else {
            return;
        };
        let Some(permissions) = json.get("permissions") else {
            return;
        };
        let database = match json.get("database_name").map(|j| &j.kind) {
            Some(JsonKind::String(d)) => d.clone(),
            _ => {
                self.error(
                    permissions.at.clone(),
                    "flexible sync permissions need \"database_name\" in sync/config.json",
                );
                return;
            }
        };
        let service = match json.get("service_name").map(|j| &j.kind) {
            Some(JsonKind::String(s)) => s.clone(),
            _ => app.default_service().unwrap_or("mongodb-atlas").to_owned(),
        };
        let file = path.display().to_string();
        let convert = |roles: &Json| -> Json {
            match &roles.kind {
                JsonKind::Array(items) => Json {
                    kind: JsonKind::Object(vec![json::Member {
                        key: "roles".into(),
                        key_at: roles.at.clone(),
                        value: Json {
                            kind: JsonKind::Array(items.iter().map(flexible_sync_role).collect()),
                            at: roles.at.clone(),
                        },
                    }]),
                    at: roles.at.clone(),
                },
                _ => roles.clone(),
            }
        };
        let default_roles = permissions.get("defaultRoles").map(convert);
        let collection_roles: Vec<(String, Json)> = permissions
            .get("rules")
            .and_then(Json::as_object)
            .map(|ms| {
                ms.iter()
                    .map(|m| (m.key.clone(), convert(&m.value)))
                    .collect()
            })
            .unwrap_or_default();
        let default_rules = default_roles.map(|j| self.reader().rules(&j, &file, true));
        let collections: Vec<(String, _)> = collection_roles
            .into_iter()
            .map(|(c, j)| (c, self.reader().rules(&j, &file, true)))
            .collect();
        let source = app
            .data_sources
            .entry(service.clone())
            .or_insert_with(|| DataSource::new(service));
        if source.default_rules.is_none() {
            source.default_rules = default_rules;
        }
        for (collection, rules) in collections {
            source
                .collections
                .entry((database.clone(), collection))
                .or_insert(rules);
        }
    }

    fn functions(&mut self, app: &mut App) {
        let functions_dir = self.dir.join("functions");
        let config_path = functions_dir.join("config.json");
        let Some(json) = self.read_optional(&config_path) else {
            return;
        };
        let JsonKind::Array(items) = &json.kind else {
            self.error(
                json.at.clone(),
                "functions/config.json must be an array of function configurations",
            );
            return;
        };
        for item in items {
            let Some(function) = self.function(item, &functions_dir) else {
                continue;
            };
            if app.functions.contains_key(&function.name) {
                self.error(
                    item.at.clone(),
                    format!("function {:?} is configured twice", function.name),
                );
                continue;
            }
            app.functions.insert(function.name.clone(), function);
        }
        // Sources without an entry get default settings on import (App Services behaviour).
        for source in js_sources(&functions_dir) {
            let name = source
                .strip_prefix(&functions_dir)
                .ok()
                .and_then(|p| p.with_extension("").to_str().map(|s| s.replace('\\', "/")))
                .unwrap_or_default();
            if !app.functions.contains_key(&name) {
                self.warn(at_file(&source), format!("function source {name:?} has no entry in functions/config.json; it gets default settings"));
                app.functions.insert(
                    name.clone(),
                    FunctionConfig::with_defaults(name, at_file(&source), Some(source)),
                );
            }
        }
        for function in app.functions.values_mut() {
            if let Some(path) = &function.source_file {
                match std::fs::read_to_string(path) {
                    Ok(text) => function.source = Some(text.into()),
                    Err(e) => self.found.errors.push(Diagnostic {
                        at: at_file(path),
                        message: format!("cannot read function source: {e}"),
                        hint: None,
                    }),
                }
            }
        }
    }

    fn function(&mut self, json: &Json, functions_dir: &Path) -> Option<FunctionConfig> {
        let Some(members) = json.as_object() else {
            self.error(
                json.at.clone(),
                "a function configuration must be an object",
            );
            return None;
        };
        let mut f = FunctionConfig {
            name: String::new(),
            at: json.at.clone(),
            private: false,
            can_evaluate: None,
            disable_arg_logs: false,
            run_as_system: false,
            run_as_user_id: None,
            run_as_user_id_script_source: None,
            source_file: None,
            source: None,
        };
        for m in members {
            let v = &m.value;
            match (m.key.as_str(), &v.kind) {
                ("name", JsonKind::String(s)) => f.name = s.clone(),
                ("private", JsonKind::Bool(b)) => f.private = *b,
                ("disable_arg_logs", JsonKind::Bool(b)) => f.disable_arg_logs = *b,
                ("run_as_system", JsonKind::Bool(b)) => f.run_as_system = *b,
                ("run_as_user_id", JsonKind::String(s)) => {
                    f.run_as_user_id = (!s.is_empty()).then(|| s.clone())
                }
                ("run_as_user_id_script_source", JsonKind::String(s)) => {
                    f.run_as_user_id_script_source = (!s.is_empty()).then(|| s.clone())
                }
                ("can_evaluate", JsonKind::Object(members)) if members.is_empty() => {}
                ("can_evaluate", _) => match Expression::compile(v, ExprKind::CanEvaluate) {
                    Ok(e) => f.can_evaluate = Some(e),
                    Err(e) => self.found.errors.extend(e.diagnostics),
                },
                ("_id" | "id" | "source", _) => {}
                (key, _) => {
                    let known = [
                        "name",
                        "private",
                        "can_evaluate",
                        "disable_arg_logs",
                        "run_as_system",
                        "run_as_user_id",
                        "run_as_user_id_script_source",
                    ];
                    self.found.error(
                        &m.key_at,
                        format!(
                            "unknown or mistyped key {key:?} in a function configuration ({} given)",
                            v.kind_name()
                        ),
                        did_you_mean(key, known),
                    );
                }
            }
        }
        if f.name.is_empty() {
            self.error(json.at.clone(), "a function configuration needs a \"name\"");
            return None;
        }
        if f.run_as_user_id.is_some() && f.run_as_user_id_script_source.is_some() {
            self.error(json.at.clone(), format!("function {:?}: run_as_user_id and run_as_user_id_script_source cannot be used together", f.name));
        }
        let source = functions_dir.join(format!("{}.js", f.name));
        if source.is_file() {
            f.source_file = Some(source);
        }
        Some(f)
    }

    fn custom_user_data(&mut self, app: &mut App) {
        let path = self.dir.join("auth").join("custom_user_data.json");
        let Some(json) = self.read_optional(&path) else {
            return;
        };
        let text = |key: &str| match json.get(key).map(|j| &j.kind) {
            Some(JsonKind::String(s)) => Some(s.clone()),
            _ => None,
        };
        let enabled = matches!(
            json.get("enabled").map(|j| &j.kind),
            Some(JsonKind::Bool(true))
        );
        const KNOWN: [&str; 8] = [
            "enabled",
            "mongo_service_name",
            "mongo_service_id",
            "database_name",
            "collection_name",
            "user_id_field",
            "on_user_creation_function_name",
            "on_user_creation_function_id",
        ];
        for m in json.as_object().unwrap_or_default() {
            if !KNOWN.contains(&m.key.as_str()) {
                self.found
                    .unknown_key(&m.key, &m.key_at, &KNOWN, "custom user data");
            }
        }
        let config = CustomUserDataConfig {
            enabled,
            mongo_service_name: text("mongo_service_name")
                .unwrap_or_else(|| "mongodb-atlas".into()),
            database_name: text("database_name").unwrap_or_default(),
            collection_name: text("collection_name").unwrap_or_default(),
            user_id_field: text("user_id_field").unwrap_or_default(),
            on_user_creation_function_name: text("on_user_creation_function_name")
                .filter(|s| !s.is_empty()),
        };
        if enabled {
            for (key, value) in [
                ("database_name", &config.database_name),
                ("collection_name", &config.collection_name),
                ("user_id_field", &config.user_id_field),
            ] {
                if value.is_empty() {
                    self.error(
                        json.at.clone(),
                        format!("custom user data is enabled but {key} is missing"),
                    );
                }
            }
        }
        if enabled && !app.data_sources.contains_key(&config.mongo_service_name) {
            let at = json
                .get("mongo_service_name")
                .map_or_else(|| json.at.clone(), |j| j.at.clone());
            self.found.errors.push(Diagnostic {
                at,
                message: format!(
                    "custom user data reads data source {:?}, which the app does not have",
                    config.mongo_service_name
                ),
                hint: known_data_sources(app),
            });
        }
        if let Some(name) = &config.on_user_creation_function_name {
            if !app.functions.contains_key(name) {
                let at = json
                    .get("on_user_creation_function_name")
                    .map_or_else(|| json.at.clone(), |j| j.at.clone());
                self.found.warnings.push(Diagnostic {
                    at,
                    message: format!("the user creation function {name:?} is not configured in functions/config.json"),
                    hint: closest_function(app, name),
                });
            }
        }
        app.custom_user_data = Some(config);
    }

    /// Functions configured without a source: they must be registered in Rust, or every call
    /// fails with `FunctionNotFound`.
    fn functions_without_source(&mut self, app: &App) {
        for function in app.functions.values() {
            if function.source_file.is_none() {
                self.found.warnings.push(Diagnostic {
                    at: function.at.clone(),
                    message: format!(
                        "function {:?} has no source (functions/{}.js): calls fail with FunctionNotFound unless the embedding application registers it in Rust",
                        function.name, function.name
                    ),
                    hint: Some(format!(
                        "add functions/{}.js, or register it with Functions::builder(…).register({:?}, …)",
                        function.name, function.name
                    )),
                });
            }
        }
    }

    /// A trigger whose data source or function does not exist, or whose configuration cannot run.
    fn check_trigger(&mut self, app: &App, trigger: &TriggerConfig, at: &Location) {
        if !trigger.disabled && matches!(trigger.trigger_type.as_str(), "DATABASE" | "SCHEDULED") {
            if let Err(e) = crate::triggers::parse(app, trigger) {
                self.warn(
                    at.clone(),
                    format!("{e}: `expanse triggers` and `expanse serve` will not run it"),
                );
            }
        }
        if let Some(Bson::String(service)) = trigger.config.get("service_name") {
            if !app.data_sources.contains_key(service) {
                self.found.warnings.push(Diagnostic {
                    at: at.clone(),
                    message: format!(
                        "trigger {:?} watches data source {service:?}, which the app does not have",
                        trigger.name
                    ),
                    hint: known_data_sources(app),
                });
            }
        }
        if let Some(name) = &trigger.function_name {
            if !app.functions.contains_key(name) {
                self.found.warnings.push(Diagnostic {
                    at: at.clone(),
                    message: format!(
                        "trigger {:?} calls function {name:?}, which is not configured",
                        trigger.name
                    ),
                    hint: closest_function(app, name),
                });
            }
        }
    }

    fn triggers(&mut self, app: &mut App) {
        for path in entries(&self.dir.join("triggers")) {
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let Some(json) = self.read(&path) else {
                continue;
            };
            let doc = match json::to_document(&json) {
                Ok(d) => d,
                Err(e) => {
                    self.error(e.at, e.message);
                    continue;
                }
            };
            let config = doc.get_document("config").cloned().unwrap_or_default();
            let function_name = doc
                .get_document("event_processors")
                .ok()
                .and_then(|p| p.get_document("FUNCTION").ok())
                .and_then(|f| f.get_document("config").ok())
                .and_then(|c| c.get_str("function_name").ok())
                .or_else(|| doc.get_str("function_name").ok())
                .map(str::to_owned);
            let strings = |value: Option<&Bson>| -> Vec<String> {
                match value {
                    Some(Bson::String(s)) => vec![s.clone()],
                    Some(Bson::Array(items)) => items
                        .iter()
                        .filter_map(|i| i.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                }
            };
            let trigger = TriggerConfig {
                name: doc.get_str("name").unwrap_or_default().to_owned(),
                trigger_type: doc.get_str("type").unwrap_or_default().to_owned(),
                disabled: doc.get_bool("disabled").unwrap_or(false),
                function_name,
                operation_types: strings(
                    config
                        .get("operation_types")
                        .or_else(|| config.get("operation_type")),
                ),
                providers: strings(config.get("providers")),
                config,
                error_handler: doc.get_document("error_handler").ok().cloned(),
            };
            if trigger.name.is_empty() {
                self.error(json.at.clone(), "a trigger needs a \"name\"");
                continue;
            }
            if trigger.function_name.is_none() && !trigger.disabled {
                self.warn(
                    json.at.clone(),
                    format!("trigger {:?} names no function", trigger.name),
                );
            }
            self.check_trigger(app, &trigger, &json.at);
            app.triggers.insert(trigger.name.clone(), trigger);
        }
    }

    /// `auth/providers.json` (object keyed by name, or array), else the legacy
    /// `auth_providers/<name>.json` files; functions they name must exist.
    fn auth_providers(&mut self, app: &mut App) {
        let path = self.dir.join("auth").join("providers.json");
        if let Some(json) = self.read_optional(&path) {
            super::providers::read(
                &json,
                false,
                &mut self.found.errors,
                &mut self.found.warnings,
                &mut app.auth_providers,
            );
        } else {
            for path in entries(&self.dir.join("auth_providers")) {
                if path.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                let Some(json) = self.read(&path) else {
                    continue;
                };
                super::providers::read(
                    &json,
                    true,
                    &mut self.found.errors,
                    &mut self.found.warnings,
                    &mut app.auth_providers,
                );
            }
        }
        let mut missing = Vec::new();
        for p in app.auth_providers.values() {
            for (key, on) in [
                (
                    "confirmationFunctionName",
                    p.flag("runConfirmationFunction"),
                ),
                ("resetFunctionName", p.flag("runResetFunction")),
                ("authFunctionName", p.provider_type == "custom-function"),
            ] {
                if let Some(name) = p.text(key).filter(|_| on) {
                    if !app.functions.contains_key(name) {
                        missing.push((p.at.clone(), p.name.clone(), key, name.to_owned()));
                    }
                }
            }
        }
        for (at, provider, key, name) in missing {
            self.found.errors.push(Diagnostic {
                at,
                message: format!(
                    "provider {provider:?}: {key} names function {name:?}, which the app does not have"
                ),
                hint: closest_function(app, &name),
            });
        }
    }
}

impl Loader {
    /// HTTPS endpoints; the functions they name must be configured. Legacy service webhooks
    /// (`<dir>/<service>/incoming_webhooks/<name>/`) are not served: a warning says so.
    fn endpoints(&mut self, app: &mut App) {
        for parent in ["http_endpoints", "services"] {
            for service in entries(&self.dir.join(parent)) {
                for webhook in entries(&service.join("incoming_webhooks")) {
                    if webhook.is_dir() {
                        self.warn(
                            at_file(&webhook),
                            "legacy incoming webhooks are not served; convert the webhook to an HTTPS endpoint (https_endpoints/config.json, route /<service>/<name>)",
                        );
                    }
                }
            }
        }
        let Some(path) = super::endpoints::endpoints_file(&self.dir, &mut self.found) else {
            return;
        };
        let Some(json) = self.read(&path) else {
            return;
        };
        let endpoints = super::endpoints::read_endpoints(&json, &mut self.found);
        for endpoint in &endpoints {
            if !app.functions.contains_key(&endpoint.function_name) {
                self.found.errors.push(Diagnostic {
                    at: endpoint.at.clone(),
                    message: format!(
                        "endpoint {} {} calls function {:?}, which the app does not have",
                        endpoint.http_method, endpoint.route, endpoint.function_name
                    ),
                    hint: closest_function(app, &endpoint.function_name),
                });
            }
            if let super::Validation::SecretAsQueryParam { secret_name }
            | super::Validation::VerifyPayload { secret_name } = &endpoint.validation
            {
                let variable = format!("EXPANSE_SECRET_{secret_name}");
                if std::env::var_os(&variable).is_none() {
                    self.warn(
                        endpoint.at.clone(),
                        format!(
                            "endpoint {} {} is validated with secret {secret_name:?}; set {variable} to provide it (until then every request to it is refused)",
                            endpoint.http_method, endpoint.route
                        ),
                    );
                }
            }
        }
        app.endpoints = endpoints;
    }
}

/// "did you mean …?", for a function name that matched none.
fn closest_function(app: &App, name: &str) -> Option<String> {
    did_you_mean(name, app.functions.keys().map(String::as_str))
}

/// "the app has: …", for a data source name that matched none.
fn known_data_sources(app: &App) -> Option<String> {
    let names: Vec<&str> = app.data_sources.keys().map(String::as_str).collect();
    (!names.is_empty()).then(|| format!("the app's data sources: {}", names.join(", ")))
}

/// Every `.js` file below `dir`.
fn js_sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in entries(dir) {
        if entry.is_dir() {
            out.extend(js_sources(&entry));
        } else if entry.extension().and_then(|e| e.to_str()) == Some("js") {
            out.push(entry);
        }
    }
    out
}
