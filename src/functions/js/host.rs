//! The host calls a JavaScript function makes (`context.functions.execute`, collection
//! methods), read strictly: every argument must be what the method takes, and every option is
//! either applied or refused by name, never dropped. Update pipelines (an array as the update)
//! are refused.

use bson::{doc, Bson, Document};
use serde_json::Value;

use super::bridge::{self, BridgeError};
use crate::functions::Context;
use crate::guard::FindOneAndOptions;
use crate::limits::{check_depth, LimitError};
use crate::store::{count_of, FindOptions, Store};

/// Why a host call was refused.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The prelude sent something it never sends.
    #[error("malformed host request")]
    Malformed,
    /// A value that cannot cross.
    #[error(transparent)]
    Value(#[from] BridgeError),
    /// An argument nested deeper than MongoDB allows.
    #[error("{method}: the {what}: {source}")]
    TooDeep {
        /// The method.
        method: String,
        /// Which argument.
        what: &'static str,
        /// The limit.
        source: LimitError,
    },
    /// No data source of that name.
    #[error("no data source named {0:?}")]
    NoService(String),
    /// A method Expanse does not offer.
    #[error("collection.{0} is not supported")]
    UnknownMethod(String),
    /// More arguments than the method takes.
    #[error("{method} takes at most {max} arguments")]
    TooManyArguments {
        /// The method.
        method: String,
        /// How many it takes.
        max: usize,
    },
    /// A required argument is missing.
    #[error("{method} needs a {what}")]
    Missing {
        /// The method.
        method: String,
        /// Which argument.
        what: &'static str,
    },
    /// An argument of the wrong type.
    #[error("{method}: the {what} must be {expected}")]
    WrongType {
        /// The method.
        method: String,
        /// Which argument.
        what: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// An update pipeline.
    #[error(
        "{method}: update pipelines (an array of stages as the update) are not supported; use update operators such as $set"
    )]
    Pipeline {
        /// The method.
        method: String,
    },
    /// `undefined` in a filter or pipeline: MongoDB cannot compare to it.
    #[error("{method}: the {what} holds undefined at {path}, which MongoDB cannot compare to")]
    UndefinedInQuery {
        /// The method.
        method: String,
        /// The filter or the pipeline.
        what: &'static str,
        /// Where, inside it.
        path: String,
    },
    /// An option Expanse does not apply.
    #[error("{method}: the option {option:?} is not supported")]
    UnsupportedOption {
        /// The method.
        method: String,
        /// The option.
        option: String,
    },
    /// An option of the wrong type.
    #[error("{method}: the option {option:?} must be {expected}")]
    OptionType {
        /// The method.
        method: String,
        /// The option.
        option: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// The operation failed.
    #[error("{0}")]
    Failed(String),
}

/// One request from the prelude.
pub struct Request {
    kind: String,
    name: String,
    service: String,
    database: String,
    collection: String,
    method: String,
    args: Vec<Bson>,
}

impl Request {
    /// Reads a request: plain strings naming what to call, and the arguments in the bridge's
    /// encoding.
    pub fn parse(text: &str) -> Result<Request, HostError> {
        let value: Value = serde_json::from_str(text).map_err(|_| HostError::Malformed)?;
        let field = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let args = match value.get("args") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| bridge::from_js_value(item, &format!("argument {}", i + 1)))
                .collect::<Result<Vec<Bson>, BridgeError>>()?,
            _ => return Err(HostError::Malformed),
        };
        Ok(Request {
            kind: field("kind").ok_or(HostError::Malformed)?,
            name: field("name").unwrap_or_default(),
            service: field("service").unwrap_or_default(),
            database: field("db").unwrap_or_default(),
            collection: field("coll").unwrap_or_default(),
            method: field("method").unwrap_or_default(),
            args,
        })
    }
}

/// Performs one request.
pub async fn perform<S: Store + Clone + 'static>(
    ctx: &Context<S>,
    request: Request,
) -> Result<Bson, HostError> {
    match request.kind.as_str() {
        "execute" => ctx
            .execute(&request.name, request.args)
            .await
            .map_err(|e| HostError::Failed(e.to_string())),
        "collection" => collection_call(ctx, request).await,
        _ => Err(HostError::Malformed),
    }
}

/// What each collection method takes, in order.
fn parameters(method: &str) -> Option<&'static [&'static str]> {
    Some(match method {
        "find" | "findOne" => &["filter", "projection", "options"],
        "count" | "deleteOne" | "deleteMany" | "findOneAndDelete" => &["filter", "options"],
        "aggregate" => &["pipeline", "options"],
        "insertOne" => &["document", "options"],
        "insertMany" => &["documents", "options"],
        "updateOne" | "updateMany" | "findOneAndUpdate" => &["filter", "update", "options"],
        "replaceOne" | "findOneAndReplace" => &["filter", "replacement", "options"],
        _ => return None,
    })
}

/// The options each collection method applies; any other is refused.
fn supported_options(method: &str) -> &'static [&'static str] {
    match method {
        "find" => &["sort", "limit", "skip", "projection"],
        "findOne" | "findOneAndDelete" => &["sort", "projection"],
        "updateOne" | "updateMany" => &["upsert", "arrayFilters"],
        "replaceOne" => &["upsert"],
        "findOneAndUpdate" => &[
            "sort",
            "projection",
            "upsert",
            "returnNewDocument",
            "arrayFilters",
        ],
        "findOneAndReplace" => &["sort", "projection", "upsert", "returnNewDocument"],
        _ => &[],
    }
}

/// A method's arguments, by position.
struct Args {
    method: String,
    names: &'static [&'static str],
    values: Vec<Bson>,
}

impl Args {
    fn new(method: &str, values: Vec<Bson>) -> Result<Args, HostError> {
        let names = parameters(method).ok_or_else(|| HostError::UnknownMethod(method.into()))?;
        if values.len() > names.len() {
            return Err(HostError::TooManyArguments {
                method: method.into(),
                max: names.len(),
            });
        }
        for (value, what) in values.iter().zip(names) {
            check_depth(value).map_err(|source| HostError::TooDeep {
                method: method.into(),
                what,
                source,
            })?;
        }
        Ok(Args {
            method: method.into(),
            names,
            values,
        })
    }

    /// The argument at `i`, if given (`undefined` and `null` count as not given).
    fn get(&self, i: usize) -> Option<&Bson> {
        self.values
            .get(i)
            .filter(|v| !matches!(v, Bson::Undefined | Bson::Null))
    }

    fn name(&self, i: usize) -> &'static str {
        self.names.get(i).copied().unwrap_or("argument")
    }

    fn wrong_type(&self, i: usize, expected: &'static str) -> HostError {
        HostError::WrongType {
            method: self.method.clone(),
            what: self.name(i),
            expected,
        }
    }

    /// A document argument, `None` when not given.
    fn optional_document(&self, i: usize) -> Result<Option<Document>, HostError> {
        match self.get(i) {
            None => Ok(None),
            Some(Bson::Document(d)) => Ok(Some(d.clone())),
            Some(_) => Err(self.wrong_type(i, "a document")),
        }
    }

    /// A document argument that must be given.
    fn document(&self, i: usize) -> Result<Document, HostError> {
        self.optional_document(i)?
            .ok_or_else(|| HostError::Missing {
                method: self.method.clone(),
                what: self.name(i),
            })
    }

    /// A query filter that must be given (writes).
    fn filter(&self, i: usize) -> Result<Document, HostError> {
        self.checked_filter(self.document(i)?)
    }

    /// A query filter: `{}` when not given (reads only).
    fn filter_or_all(&self, i: usize) -> Result<Document, HostError> {
        self.checked_filter(self.optional_document(i)?.unwrap_or_default())
    }

    /// Refuses `undefined` anywhere in a filter, as MongoDB does ("cannot compare to
    /// undefined"), so that both stores answer alike.
    fn checked_filter(&self, filter: Document) -> Result<Document, HostError> {
        match undefined_in(&filter) {
            Some(path) => Err(HostError::UndefinedInQuery {
                method: self.method.clone(),
                what: "filter",
                path,
            }),
            None => Ok(filter),
        }
    }

    /// An aggregation pipeline, without `undefined` (as filters).
    fn pipeline(&self, i: usize) -> Result<Vec<Document>, HostError> {
        let stages = self.documents(i)?;
        for (n, stage) in stages.iter().enumerate() {
            if let Some(path) = undefined_in(stage) {
                return Err(HostError::UndefinedInQuery {
                    method: self.method.clone(),
                    what: "pipeline",
                    path: format!("{n}.{path}"),
                });
            }
        }
        Ok(stages)
    }

    /// An update: a document of operators or a replacement; never a pipeline.
    fn update(&self, i: usize) -> Result<Document, HostError> {
        if let Some(Bson::Array(_)) = self.get(i) {
            return Err(HostError::Pipeline {
                method: self.method.clone(),
            });
        }
        self.document(i)
    }

    /// An array of documents (`insertMany`, `aggregate`).
    fn documents(&self, i: usize) -> Result<Vec<Document>, HostError> {
        let expected = "an array of documents";
        let Some(Bson::Array(items)) = self.get(i) else {
            return Err(self.wrong_type(i, expected));
        };
        items
            .iter()
            .map(|item| match item {
                Bson::Document(d) => Ok(d.clone()),
                _ => Err(self.wrong_type(i, expected)),
            })
            .collect()
    }

    /// The options document at `i`, each option one the method applies.
    fn options(&self, i: usize) -> Result<Options, HostError> {
        let given = self.optional_document(i)?.unwrap_or_default();
        let supported = supported_options(&self.method);
        let mut options = Document::new();
        for (key, value) in given {
            if matches!(value, Bson::Undefined | Bson::Null) {
                continue;
            }
            if !supported.contains(&key.as_str()) {
                return Err(HostError::UnsupportedOption {
                    method: self.method.clone(),
                    option: key,
                });
            }
            options.insert(key, value);
        }
        Ok(Options {
            method: self.method.clone(),
            given: options,
        })
    }
}

/// The dotted path of an `undefined` in a document, if it holds one.
fn undefined_in(doc: &Document) -> Option<String> {
    let mut stack: Vec<(String, &Bson)> = doc.iter().map(|(k, v)| (k.clone(), v)).collect();
    while let Some((path, value)) = stack.pop() {
        match value {
            Bson::Undefined => return Some(path),
            Bson::Document(d) => {
                stack.extend(d.iter().map(|(k, v)| (format!("{path}.{k}"), v)));
            }
            Bson::Array(items) => {
                stack.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (format!("{path}.{i}"), v)),
                );
            }
            _ => {}
        }
    }
    None
}

/// A method's options, checked by type as they are read.
struct Options {
    method: String,
    given: Document,
}

impl Options {
    fn wrong(&self, option: &'static str, expected: &'static str) -> HostError {
        HostError::OptionType {
            method: self.method.clone(),
            option,
            expected,
        }
    }

    fn flag(&self, option: &'static str) -> Result<bool, HostError> {
        match self.given.get(option) {
            None => Ok(false),
            Some(Bson::Boolean(b)) => Ok(*b),
            Some(_) => Err(self.wrong(option, "true or false")),
        }
    }

    fn document(&self, option: &'static str) -> Result<Option<Document>, HostError> {
        match self.given.get(option) {
            None => Ok(None),
            Some(Bson::Document(d)) => Ok(Some(d.clone())),
            Some(_) => Err(self.wrong(option, "a document")),
        }
    }

    fn count(&self, option: &'static str) -> Result<Option<u64>, HostError> {
        match self.given.get(option) {
            None => Ok(None),
            Some(value) => count_of(value)
                .map(Some)
                .ok_or_else(|| self.wrong(option, "a non-negative whole number")),
        }
    }

    /// `arrayFilters`: an array of documents (nothing when absent).
    fn array_filters(&self) -> Result<Vec<Document>, HostError> {
        match self.given.get("arrayFilters") {
            None => Ok(Vec::new()),
            Some(Bson::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Bson::Document(d) => Ok(d.clone()),
                    _ => Err(self.wrong("arrayFilters", "an array of documents")),
                })
                .collect(),
            Some(_) => Err(self.wrong("arrayFilters", "an array of documents")),
        }
    }

    fn find_one_and(&self) -> Result<FindOneAndOptions, HostError> {
        Ok(FindOneAndOptions {
            sort: self.document("sort")?,
            projection: self.document("projection")?,
            upsert: self.flag("upsert")?,
            return_new_document: self.flag("returnNewDocument")?,
        })
    }
}

/// A count as JavaScript sees it: a number (an Int32 when it fits).
fn count_value(n: u64) -> Bson {
    i32::try_from(n)
        .map(Bson::Int32)
        .unwrap_or_else(|_| Bson::Int64(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn update_result(r: crate::guard::UpdateResult) -> Bson {
    let mut d = doc! {
        "matchedCount": count_value(r.matched_count),
        "modifiedCount": count_value(r.modified_count),
    };
    if let Some(id) = r.upserted_id {
        d.insert("upsertedId", id);
    }
    Bson::Document(d)
}

fn documents_value(docs: Vec<Document>) -> Bson {
    Bson::Array(docs.into_iter().map(Bson::Document).collect())
}

fn optional_document_value(doc: Option<Document>) -> Bson {
    doc.map(Bson::Document).unwrap_or(Bson::Null)
}

/// The find options of `find` and `findOne`: the projection argument, or the `projection`
/// option (not both).
fn find_options(args: &Args, options: &Options) -> Result<FindOptions, HostError> {
    let projection = match (args.optional_document(1)?, options.document("projection")?) {
        (Some(_), Some(_)) => {
            return Err(HostError::WrongType {
                method: args.method.clone(),
                what: "projection",
                expected: "given once (as the argument or as the option)",
            })
        }
        (argument, option) => argument.or(option),
    };
    Ok(FindOptions {
        sort: options.document("sort")?,
        skip: options.count("skip")?.unwrap_or(0),
        limit: options.count("limit")?.filter(|l| *l > 0),
        projection,
    })
}

async fn collection_call<S: Store + Clone + 'static>(
    ctx: &Context<S>,
    request: Request,
) -> Result<Bson, HostError> {
    let service = ctx
        .services()
        .get(&request.service)
        .ok_or_else(|| HostError::NoService(request.service.clone()))?;
    let coll = service
        .db(&request.database)
        .collection(&request.collection);
    let method = request.method.as_str();
    let args = Args::new(method, request.args)?;
    let failed = |e: crate::guard::GuardError| HostError::Failed(e.to_string());
    Ok(match method {
        "find" => {
            let options = args.options(2)?;
            let find = find_options(&args, &options)?;
            documents_value(
                coll.find(&args.filter_or_all(0)?, &find)
                    .await
                    .map_err(failed)?,
            )
        }
        "findOne" => {
            let options = args.options(2)?;
            let find = find_options(&args, &options)?;
            let found = coll.find_one(&args.filter_or_all(0)?, &find).await;
            optional_document_value(found.map_err(failed)?)
        }
        "count" => {
            args.options(1)?;
            count_value(coll.count(&args.filter_or_all(0)?).await.map_err(failed)?)
        }
        "aggregate" => {
            args.options(1)?;
            documents_value(coll.aggregate(&args.pipeline(0)?).await.map_err(failed)?)
        }
        "insertOne" => {
            args.options(1)?;
            let id = coll.insert_one(args.document(0)?).await.map_err(failed)?;
            Bson::Document(doc! {"insertedId": id})
        }
        "insertMany" => {
            args.options(1)?;
            let ids = coll.insert_many(args.documents(0)?).await.map_err(failed)?;
            Bson::Document(doc! {"insertedIds": ids})
        }
        "updateOne" | "updateMany" | "replaceOne" => {
            let options = args.options(2)?;
            let upsert = options.flag("upsert")?;
            let update_options = crate::guard::UpdateOptions {
                upsert,
                array_filters: options.array_filters()?,
            };
            let filter = args.filter(0)?;
            let result = match method {
                "updateOne" => {
                    coll.update_one_with(&filter, &args.update(1)?, &update_options)
                        .await
                }
                "updateMany" => {
                    coll.update_many_with(&filter, &args.update(1)?, &update_options)
                        .await
                }
                _ => coll.replace_one(&filter, &args.document(1)?, upsert).await,
            };
            update_result(result.map_err(failed)?)
        }
        "deleteOne" | "deleteMany" => {
            args.options(1)?;
            let filter = args.filter(0)?;
            let deleted = if method == "deleteOne" {
                coll.delete_one(&filter).await
            } else {
                coll.delete_many(&filter).await
            };
            Bson::Document(doc! {"deletedCount": count_value(deleted.map_err(failed)?)})
        }
        "findOneAndUpdate" | "findOneAndReplace" => {
            let given = args.options(2)?;
            let options = given.find_one_and()?;
            let filter = args.filter(0)?;
            let found = if method == "findOneAndUpdate" {
                coll.find_one_and_update_with(
                    &filter,
                    &args.update(1)?,
                    &options,
                    &given.array_filters()?,
                )
                .await
            } else {
                coll.find_one_and_replace(&filter, &args.document(1)?, &options)
                    .await
            };
            optional_document_value(found.map_err(failed)?)
        }
        "findOneAndDelete" => {
            let options = args.options(1)?.find_one_and()?;
            let found = coll.find_one_and_delete(&args.filter(0)?, &options).await;
            optional_document_value(found.map_err(failed)?)
        }
        other => return Err(HostError::UnknownMethod(other.into())),
    })
}
