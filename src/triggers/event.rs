//! The change events a database trigger receives: the stream's pipeline built from
//! `operation_types`, `match` and `project`, and the events that end a stream.

use bson::{doc, Bson, Document};

use super::model::DatabaseTrigger;

/// Events that end a collection's change stream: the trigger is suspended when one arrives.
pub const ENDING_EVENTS: [&str; 4] = ["invalidate", "drop", "rename", "dropDatabase"];

/// The pipeline over the change stream: the trigger's operation types and `match` (events that
/// end the stream always pass, so the runner sees them), then its `project` (which always keeps
/// `operationType`, as App Services requires).
///
/// ```
/// use bson::doc;
/// use expanse::triggers::{pipeline, DatabaseTrigger};
/// use expanse::store::Namespace;
/// let trigger = DatabaseTrigger {
///     name: "t".into(), function: "f".into(), error_handler: None, service: "mongodb-atlas".into(),
///     namespace: Namespace::new("db", "c"), operation_types: vec!["insert".into()],
///     match_filter: doc! {"fullDocument.n": {"$gt": 1}}, project: doc! {},
///     full_document: false, full_document_before_change: false, unordered: false,
///     skip_catchup_events: false, tolerate_resume_errors: false,
/// };
/// let stages = pipeline(&trigger);
/// assert_eq!(stages.len(), 1);
/// ```
pub fn pipeline(trigger: &DatabaseTrigger) -> Vec<Document> {
    let ops: Vec<Bson> = trigger
        .operation_types
        .iter()
        .map(|o| Bson::String(o.clone()))
        .collect();
    let ending: Vec<Bson> = ENDING_EVENTS.iter().map(|o| Bson::from(*o)).collect();
    let mut wanted = doc! {"operationType": {"$in": ops}};
    if !trigger.match_filter.is_empty() {
        wanted = doc! {"$and": [wanted, trigger.match_filter.clone()]};
    }
    let mut stages = vec![doc! {"$match": {"$or": [{"operationType": {"$in": ending}}, wanted]}}];
    if !trigger.project.is_empty() {
        let mut project = trigger.project.clone();
        let inclusion = project.values().any(|v| match v {
            Bson::Boolean(b) => *b,
            Bson::Int32(i) => *i != 0,
            Bson::Int64(i) => *i != 0,
            Bson::Double(d) => *d != 0.0,
            _ => true,
        });
        if inclusion {
            project.insert("operationType", 1);
        } else {
            project.remove("operationType");
        }
        if !project.is_empty() {
            stages.push(doc! {"$project": project});
        }
    }
    stages
}

/// Whether an event ends the stream (and suspends the trigger).
pub fn ends_stream(event: &Document) -> bool {
    event
        .get_str("operationType")
        .is_ok_and(|op| ENDING_EVENTS.contains(&op))
}
