//! The one parser: each shape's arguments become a list of given parameters, and one builder
//! checks and types them into an [`Operation`].

use bson::{Bson, Document};

use super::error::OperationError;
use super::signature::{OperationName, Parameter, ParameterKind, Signature, Slot};
use super::Operation;
use crate::guard::{FindOneAndOptions, UpdateOptions};
use crate::limits::check_depth;
use crate::store::{count_of, FindOptions};

/// How an operation's arguments are named, when they are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A fixture test's keys (`query`, `projection`, `replacement`, …). A write without
    /// `query` applies to every document (`{}`).
    Fixture,
    /// An App Services service call's argument document (`query` or `filter`, `project` or
    /// `projection`, the replacement under `update`, …). Writes need their filter.
    ServiceCall,
}

/// One argument given, with how the caller named it (for errors).
struct Given {
    parameter: Parameter,
    value: Bson,
    what: String,
}

/// Whether a value counts as not given.
fn absent(value: &Bson) -> bool {
    matches!(value, Bson::Null | Bson::Undefined)
}

fn operation_name(name: &str) -> Result<OperationName, OperationError> {
    OperationName::parse(name).ok_or_else(|| OperationError::UnknownOperation(name.to_owned()))
}

/// The positional form: arguments by position, the last one the options document.
pub(super) fn positional(name: &str, arguments: Vec<Bson>) -> Result<Operation, OperationError> {
    let operation = operation_name(name)?;
    let signature = operation.signature();
    if arguments.len() > signature.positional.len() {
        return Err(OperationError::TooManyArguments {
            operation: name.to_owned(),
            max: signature.positional.len(),
        });
    }
    let mut given = Vec::new();
    for (value, slot) in arguments.into_iter().zip(signature.positional) {
        let what = match slot {
            Slot::Argument(p) => format!("the {}", p.name()),
            Slot::Options => "the options".to_owned(),
        };
        check_depth(&value).map_err(|source| OperationError::TooDeep {
            operation: name.to_owned(),
            what: what.clone(),
            source,
        })?;
        if absent(&value) {
            continue;
        }
        match slot {
            Slot::Argument(parameter) => given.push(Given {
                parameter: *parameter,
                value,
                what,
            }),
            Slot::Options => {
                let Bson::Document(options) = value else {
                    return Err(OperationError::WrongType {
                        operation: name.to_owned(),
                        what,
                        expected: "a document",
                    });
                };
                for (key, value) in options {
                    if absent(&value) {
                        continue;
                    }
                    let what = format!("the option {key:?}");
                    let Some(parameter) = signature.options.iter().find(|p| p.name() == key) else {
                        return Err(OperationError::Unsupported {
                            operation: name.to_owned(),
                            what,
                        });
                    };
                    given.push(Given {
                        parameter: *parameter,
                        value,
                        what,
                    });
                }
            }
        }
    }
    build(operation, signature, given, true)
}

/// A named form: one document of arguments, keyed as `shape` names them.
pub(super) fn named(
    name: &str,
    arguments: &Document,
    shape: Shape,
) -> Result<Operation, OperationError> {
    let operation = operation_name(name)?;
    let signature = operation.signature();
    let keys = match shape {
        Shape::Fixture => signature.fixture,
        Shape::ServiceCall => signature.service,
    };
    let mut given = Vec::new();
    for (key, value) in arguments {
        let what = format!("the field {key:?}");
        let Some((_, parameter)) = keys.iter().find(|(k, _)| k == key) else {
            return Err(OperationError::Unsupported {
                operation: name.to_owned(),
                what,
            });
        };
        check_depth(value).map_err(|source| OperationError::TooDeep {
            operation: name.to_owned(),
            what: what.clone(),
            source,
        })?;
        if absent(value) {
            continue;
        }
        given.push(Given {
            parameter: *parameter,
            value: value.clone(),
            what,
        });
    }
    build(operation, signature, given, shape == Shape::ServiceCall)
}

/// The checked arguments, by parameter.
struct Arguments {
    operation: OperationName,
    given: Vec<Given>,
}

impl Arguments {
    fn error_wrong(&self, given: &Given, expected: &'static str) -> OperationError {
        OperationError::WrongType {
            operation: self.operation.as_str().to_owned(),
            what: given.what.clone(),
            expected,
        }
    }

    fn get(&self, parameter: Parameter) -> Option<&Given> {
        self.given.iter().find(|g| g.parameter == parameter)
    }

    fn document(&self, parameter: Parameter) -> Option<Document> {
        match self.get(parameter).map(|g| &g.value) {
            Some(Bson::Document(d)) => Some(d.clone()),
            _ => None,
        }
    }

    fn documents(&self, parameter: Parameter) -> Option<Vec<Document>> {
        match self.get(parameter).map(|g| &g.value) {
            Some(Bson::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(|i| i.as_document().cloned())
                    .collect(),
            ),
            _ => None,
        }
    }

    fn flag(&self, parameter: Parameter) -> bool {
        matches!(
            self.get(parameter).map(|g| &g.value),
            Some(Bson::Boolean(true))
        )
    }

    /// A count; 0 means none, as MongoDB reads `limit`.
    fn count(&self, parameter: Parameter) -> Option<u64> {
        self.get(parameter).and_then(|g| count_of(&g.value))
    }

    fn find_options(&self) -> FindOptions {
        FindOptions {
            sort: self.document(Parameter::Sort),
            skip: self.count(Parameter::Skip).unwrap_or(0),
            limit: self.count(Parameter::Limit).filter(|l| *l > 0),
            projection: self.document(Parameter::Projection),
        }
    }

    fn find_one_and_options(&self) -> FindOneAndOptions {
        FindOneAndOptions {
            sort: self.document(Parameter::Sort),
            projection: self.document(Parameter::Projection),
            upsert: self.flag(Parameter::Upsert),
            return_new_document: self.flag(Parameter::ReturnNewDocument),
        }
    }
}

/// Checks every given argument against what its parameter must be, then builds the operation.
fn build(
    operation: OperationName,
    signature: &Signature,
    given: Vec<Given>,
    write_needs_filter: bool,
) -> Result<Operation, OperationError> {
    let name = operation.as_str();
    let arguments = Arguments { operation, given };
    for (i, g) in arguments.given.iter().enumerate() {
        if arguments.given[..i]
            .iter()
            .any(|earlier| earlier.parameter == g.parameter)
        {
            return Err(OperationError::WrongType {
                operation: name.to_owned(),
                what: format!("the {}", g.parameter.name()),
                expected: "given once (as the argument or as the option)",
            });
        }
        check_kind(&arguments, g)?;
    }
    let mut required: Vec<Parameter> = signature.required.to_vec();
    let takes_filter = signature
        .positional
        .contains(&Slot::Argument(Parameter::Filter));
    if write_needs_filter && operation.is_write() && takes_filter {
        required.insert(0, Parameter::Filter);
    }
    for parameter in required {
        if arguments.get(parameter).is_none() {
            return Err(OperationError::Missing {
                operation: name.to_owned(),
                what: parameter.with_article(),
            });
        }
    }
    if let Some(g) = arguments.get(Parameter::Filter) {
        if let Some(path) = undefined_in(&g.value) {
            return Err(OperationError::UndefinedInQuery {
                operation: name.to_owned(),
                what: g.what.clone(),
                path,
            });
        }
    }
    if let Some(g) = arguments.get(Parameter::Pipeline) {
        if let Some(path) = undefined_in(&g.value) {
            return Err(OperationError::UndefinedInQuery {
                operation: name.to_owned(),
                what: g.what.clone(),
                path,
            });
        }
    }
    let filter = arguments.document(Parameter::Filter).unwrap_or_default();
    let update_options = || UpdateOptions {
        upsert: arguments.flag(Parameter::Upsert),
        array_filters: arguments
            .documents(Parameter::ArrayFilters)
            .unwrap_or_default(),
    };
    let document = |p| arguments.document(p).unwrap_or_default();
    let documents = |p| arguments.documents(p).unwrap_or_default();
    use OperationName as N;
    Ok(match operation {
        N::Find => Operation::Find {
            filter,
            options: arguments.find_options(),
        },
        N::FindOne => Operation::FindOne {
            filter,
            options: arguments.find_options(),
        },
        N::Count => Operation::Count {
            filter,
            limit: arguments.count(Parameter::Limit).filter(|l| *l > 0),
        },
        N::Aggregate => Operation::Aggregate {
            pipeline: documents(Parameter::Pipeline),
        },
        N::InsertOne => Operation::InsertOne {
            document: document(Parameter::Document),
        },
        N::InsertMany => Operation::InsertMany {
            documents: documents(Parameter::Documents),
        },
        N::UpdateOne => Operation::UpdateOne {
            filter,
            update: document(Parameter::Update),
            options: update_options(),
        },
        N::UpdateMany => Operation::UpdateMany {
            filter,
            update: document(Parameter::Update),
            options: update_options(),
        },
        N::ReplaceOne => Operation::ReplaceOne {
            filter,
            replacement: document(Parameter::Replacement),
            upsert: arguments.flag(Parameter::Upsert),
        },
        N::DeleteOne => Operation::DeleteOne { filter },
        N::DeleteMany => Operation::DeleteMany { filter },
        N::FindOneAndUpdate => Operation::FindOneAndUpdate {
            filter,
            update: document(Parameter::Update),
            options: arguments.find_one_and_options(),
            array_filters: documents(Parameter::ArrayFilters),
        },
        N::FindOneAndReplace => Operation::FindOneAndReplace {
            filter,
            replacement: document(Parameter::Replacement),
            options: arguments.find_one_and_options(),
        },
        N::FindOneAndDelete => Operation::FindOneAndDelete {
            filter,
            options: FindOneAndOptions {
                upsert: false,
                return_new_document: false,
                ..arguments.find_one_and_options()
            },
        },
    })
}

/// Refuses a value of the wrong type for its parameter, naming the argument, never the value.
fn check_kind(arguments: &Arguments, given: &Given) -> Result<(), OperationError> {
    let ok = match (given.parameter.kind(), &given.value) {
        (ParameterKind::Update, Bson::Array(_)) => {
            return Err(OperationError::Pipeline {
                operation: arguments.operation.as_str().to_owned(),
            })
        }
        (ParameterKind::Document | ParameterKind::Update, v) => matches!(v, Bson::Document(_)),
        (ParameterKind::Documents, Bson::Array(items)) => {
            items.iter().all(|i| matches!(i, Bson::Document(_)))
        }
        (ParameterKind::Documents, _) => false,
        (ParameterKind::Count, v) => count_of(v).is_some(),
        (ParameterKind::Flag, v) => matches!(v, Bson::Boolean(_)),
    };
    if ok {
        return Ok(());
    }
    Err(arguments.error_wrong(
        given,
        match given.parameter.kind() {
            ParameterKind::Document | ParameterKind::Update => "a document",
            ParameterKind::Documents => "an array of documents",
            ParameterKind::Count => "a non-negative whole number",
            ParameterKind::Flag => "true or false",
        },
    ))
}

/// The dotted path of an `undefined` in a value, if it holds one (field names and positions
/// only, never values).
fn undefined_in(value: &Bson) -> Option<String> {
    let mut stack: Vec<(String, &Bson)> = match value {
        Bson::Document(d) => d.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Bson::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return None,
    };
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
