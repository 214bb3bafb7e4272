//! The one dispatcher: every caller (JavaScript functions, fixtures, the Rust `Context`, service
//! calls over HTTP) performs an [`Operation`] here.

use crate::operation::{Operation, OperationResult};
use crate::store::Store;

use super::{GuardError, GuardedCollection};

impl<S: Store> GuardedCollection<'_, S> {
    /// Performs one SDK operation with the rules enforced.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// use bson::{bson, doc};
    /// use expanse::operation::{Operation, OperationResult};
    /// use expanse::store::MemoryStore;
    /// use expanse::{App, User};
    /// let app = App::load("fixtures/app")?.app;
    /// let store = MemoryStore::new();
    /// let system = User::system();
    /// let notes = app.collection(&store, &system, "notes_app", "notes")?;
    /// let insert = Operation::from_positional("insertOne", vec![bson!({"_id": 1, "title": "a"})])?;
    /// assert_eq!(notes.perform(&insert).await?.to_bson(), bson!({"insertedId": 1}));
    /// let count = Operation::from_positional("count", vec![bson!({})])?;
    /// assert_eq!(notes.perform(&count).await?, OperationResult::Count(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(()) })?; Ok(()) }
    /// ```
    pub async fn perform(&self, operation: &Operation) -> Result<OperationResult, GuardError> {
        Ok(match operation {
            Operation::Find { filter, options } => {
                OperationResult::Documents(self.find(filter, options).await?)
            }
            Operation::FindOne { filter, options } => {
                OperationResult::Document(self.find_one(filter, options).await?)
            }
            Operation::Count { filter, limit } => {
                let n = self.count(filter).await?;
                OperationResult::Count(limit.map_or(n, |l| n.min(l)))
            }
            Operation::Aggregate { pipeline } => {
                OperationResult::Documents(self.aggregate(pipeline).await?)
            }
            Operation::InsertOne { document } => OperationResult::InsertOne {
                inserted_id: self.insert_one(document.clone()).await?.inserted_id,
            },
            Operation::InsertMany { documents } => OperationResult::InsertMany {
                inserted_ids: self.insert_many(documents.clone()).await?,
            },
            Operation::UpdateOne {
                filter,
                update,
                options,
            } => OperationResult::Update(self.update_one_with(filter, update, options).await?),
            Operation::UpdateMany {
                filter,
                update,
                options,
            } => OperationResult::Update(self.update_many_with(filter, update, options).await?),
            Operation::ReplaceOne {
                filter,
                replacement,
                upsert,
            } => OperationResult::Update(self.replace_one(filter, replacement, *upsert).await?),
            Operation::DeleteOne { filter } => OperationResult::Delete {
                deleted_count: self.delete_one(filter).await?,
            },
            Operation::DeleteMany { filter } => OperationResult::Delete {
                deleted_count: self.delete_many(filter).await?,
            },
            Operation::FindOneAndUpdate {
                filter,
                update,
                options,
                array_filters,
            } => OperationResult::Document(
                self.find_one_and_update_with(filter, update, options, array_filters)
                    .await?,
            ),
            Operation::FindOneAndReplace {
                filter,
                replacement,
                options,
            } => OperationResult::Document(
                self.find_one_and_replace(filter, replacement, options)
                    .await?,
            ),
            Operation::FindOneAndDelete { filter, options } => {
                OperationResult::Document(self.find_one_and_delete(filter, options).await?)
            }
        })
    }
}
