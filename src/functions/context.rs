//! The `context` a function receives (App Services: https://www.mongodb.com/docs/atlas/app-services/functions/context/).

use std::sync::Arc;

use bson::{doc, Bson, Document};

use super::error::FunctionError;
use super::registry::Registry;
use super::tree::CallTree;
use crate::guard::{FindOneAndOptions, GuardError, GuardedCollection, UpdateOptions, UpdateResult};
use crate::operation::{Operation, OperationResult};
use crate::store::{FindOptions, Store};
use crate::User;

/// What a running function sees. Cheap to clone.
pub struct Context<S: Store> {
    /// What the context needs of the function registry.
    functions: Arc<dyn Registry<S>>,
    caller: User,
    execution: User,
    depth: usize,
    request: Option<Arc<Document>>,
    tree: CallTree,
    endpoint: Option<super::endpoint::ResponseSlot>,
}

impl<S: Store> Clone for Context<S> {
    fn clone(&self) -> Self {
        Context {
            functions: self.functions.clone(),
            caller: self.caller.clone(),
            execution: self.execution.clone(),
            depth: self.depth,
            request: self.request.clone(),
            tree: self.tree.clone(),
            endpoint: self.endpoint.clone(),
        }
    }
}

impl<S: Store + Clone + 'static> Context<S> {
    pub(crate) fn new(
        functions: Arc<dyn Registry<S>>,
        caller: User,
        execution: User,
        depth: usize,
        request: Option<Arc<Document>>,
        tree: CallTree,
    ) -> Context<S> {
        Context {
            functions,
            caller,
            execution,
            depth,
            request,
            tree,
            endpoint: None,
        }
    }

    /// This context for a call as an HTTPS endpoint, whose `response` state is `slot`.
    pub(crate) fn with_endpoint_response(
        mut self,
        slot: super::endpoint::ResponseSlot,
    ) -> Context<S> {
        self.endpoint = Some(slot);
        self
    }

    /// The `response` of a call made as an HTTPS endpoint (`None` otherwise): a Rust function
    /// sets the status, headers and body the server answers with through it.
    pub fn endpoint_response(&self) -> Option<&std::sync::Mutex<super::EndpointResponse>> {
        self.endpoint.as_deref()
    }

    pub(crate) fn endpoint_slot(&self) -> Option<&super::endpoint::ResponseSlot> {
        self.endpoint.as_ref()
    }

    /// The limits this call shares with its caller and callees.
    pub(crate) fn tree(&self) -> &CallTree {
        &self.tree
    }

    /// This context under another node of the call tree.
    pub(crate) fn with_tree(mut self, tree: CallTree) -> Context<S> {
        self.tree = tree;
        self
    }

    /// The time left before this call, and every call it makes, must have finished.
    pub fn remaining_time(&self) -> std::time::Duration {
        self.tree.remaining()
    }

    /// `context.user`: the authenticated caller, even inside a system function (the system user
    /// when there is none).
    pub fn user(&self) -> &User {
        &self.caller
    }

    /// The user rules are applied as (the system user when rules are bypassed).
    pub fn execution_user(&self) -> &User {
        &self.execution
    }

    /// `context.runningAsSystem()`.
    pub fn running_as_system(&self) -> bool {
        self.execution.is_system()
    }

    /// `context.values.get(name)`: `None` for an unknown name.
    pub fn value(&self, name: &str) -> Option<Bson> {
        self.functions.app().values.get(name).cloned()
    }

    /// `context.environment`: `{tag, values}`.
    pub fn environment(&self) -> &Document {
        &self.functions.app().environment
    }

    /// `context.request` (absent for system and trigger calls).
    pub fn request(&self) -> Option<&Document> {
        self.request.as_deref()
    }

    pub(crate) fn request_arc(&self) -> Option<Arc<Document>> {
        self.request.clone()
    }

    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// `context.app`.
    pub fn app(&self) -> Document {
        let app = self.functions.app();
        doc! {"name": app.name.clone(), "id": app.name.clone(), "clientAppId": app.name.clone()}
    }

    /// The loaded app (its settings: `context.http`'s allowed hosts).
    pub(crate) fn app_config(&self) -> &crate::App {
        self.functions.app()
    }

    /// Names of the app's data sources.
    pub fn service_names(&self) -> Vec<String> {
        self.functions.app().data_sources.keys().cloned().collect()
    }

    /// Every value (`%%values`), for runtimes that hand them over whole.
    pub fn values_document(&self) -> Document {
        self.functions.app().values.clone()
    }

    /// Appends a line to the call log (`console.log`).
    pub fn log(&self, line: String) {
        self.functions.log(line);
    }

    /// `context.services`.
    pub fn services(&self) -> Services<S> {
        Services { ctx: self.clone() }
    }

    /// `context.functions.execute(name, ...args)`: runs in this function's execution context.
    pub async fn execute(&self, name: &str, args: Vec<Bson>) -> Result<Bson, FunctionError> {
        self.functions.execute(self, name, args).await
    }

    /// What this context needs of the function registry.
    pub(crate) fn registry(&self) -> &Arc<dyn Registry<S>> {
        &self.functions
    }
}

/// `context.services`.
pub struct Services<S: Store> {
    ctx: Context<S>,
}

impl<S: Store + Clone + 'static> Services<S> {
    /// A linked data source by name; `None` when the app has none of that name.
    pub fn get(&self, name: &str) -> Option<ServiceClient<S>> {
        self.ctx
            .functions
            .app()
            .data_sources
            .contains_key(name)
            .then(|| ServiceClient {
                ctx: self.ctx.clone(),
                service: name.to_owned(),
            })
    }
}

/// A data source client.
pub struct ServiceClient<S: Store> {
    ctx: Context<S>,
    service: String,
}

impl<S: Store + Clone + 'static> ServiceClient<S> {
    /// `.db(name)`.
    pub fn db(&self, name: &str) -> ContextDatabase<S> {
        ContextDatabase {
            ctx: self.ctx.clone(),
            service: self.service.clone(),
            database: name.to_owned(),
        }
    }
}

/// A database of a data source.
pub struct ContextDatabase<S: Store> {
    ctx: Context<S>,
    service: String,
    database: String,
}

impl<S: Store + Clone + 'static> ContextDatabase<S> {
    /// `.collection(name)`.
    pub fn collection(&self, name: &str) -> ContextCollection<S> {
        ContextCollection {
            ctx: self.ctx.clone(),
            service: self.service.clone(),
            database: self.database.clone(),
            collection: name.to_owned(),
        }
    }
}

/// A collection as a function sees it: guarded by the execution user's rules, or unguarded when
/// running as the system user.
pub struct ContextCollection<S: Store> {
    ctx: Context<S>,
    service: String,
    database: String,
    collection: String,
}

macro_rules! guarded {
    ($self:ident, $coll:ident => $body:expr) => {{
        let functions = &$self.ctx.functions;
        let user = &$self.ctx.execution;
        let rule_functions = functions.rule_functions(user, &$self.ctx.tree);
        // `%%request` in the rules: the client request this call tree serves.
        let request = $self.ctx.request.clone();
        let $coll: GuardedCollection<'_, S> = functions
            .app()
            .service_collection(
                functions.store(),
                user,
                &$self.service,
                &$self.database,
                &$self.collection,
            )?
            .with_functions(rule_functions.as_ref());
        let $coll = match request.as_deref() {
            Some(metadata) => $coll.with_request(metadata),
            None => $coll,
        };
        let $coll = if functions.explains_rules() {
            $coll.explained()
        } else {
            $coll
        };
        let result = $body;
        if let Err(GuardError::Denied(denial)) = &result {
            functions.record_denial(denial);
        }
        result
    }};
}

impl<S: Store + Clone + 'static> ContextCollection<S> {
    /// Performs one SDK operation, guarded by the execution user's rules (the one dispatcher:
    /// [`GuardedCollection::perform`]). The methods below are this, typed.
    pub async fn perform(&self, operation: &Operation) -> Result<OperationResult, GuardError> {
        guarded!(self, c => c.perform(operation).await)
    }

    /// `find`.
    pub async fn find(
        &self,
        query: &Document,
        options: &FindOptions,
    ) -> Result<Vec<Document>, GuardError> {
        let operation = Operation::Find {
            filter: query.clone(),
            options: options.clone(),
        };
        Ok(self
            .perform(&operation)
            .await?
            .into_documents()
            .unwrap_or_default())
    }

    /// `findOne`: the first match, sorted, skipped and projected as `options` say.
    pub async fn find_one(
        &self,
        query: &Document,
        options: &FindOptions,
    ) -> Result<Option<Document>, GuardError> {
        let operation = Operation::FindOne {
            filter: query.clone(),
            options: options.clone(),
        };
        Ok(self.perform(&operation).await?.into_document().flatten())
    }

    /// `count`.
    pub async fn count(&self, query: &Document) -> Result<u64, GuardError> {
        let operation = Operation::Count {
            filter: query.clone(),
            limit: None,
        };
        Ok(self.perform(&operation).await?.count().unwrap_or(0))
    }

    /// `aggregate`.
    pub async fn aggregate(&self, pipeline: &[Document]) -> Result<Vec<Document>, GuardError> {
        let operation = Operation::Aggregate {
            pipeline: pipeline.to_vec(),
        };
        Ok(self
            .perform(&operation)
            .await?
            .into_documents()
            .unwrap_or_default())
    }

    /// `insertOne`: the new `_id`.
    pub async fn insert_one(&self, document: Document) -> Result<Bson, GuardError> {
        let ids = self.insert(Operation::InsertOne { document }).await?;
        Ok(ids.into_iter().next().unwrap_or(Bson::Null))
    }

    /// `insertMany`: the new `_id`s.
    pub async fn insert_many(&self, documents: Vec<Document>) -> Result<Vec<Bson>, GuardError> {
        self.insert(Operation::InsertMany { documents }).await
    }

    async fn insert(&self, operation: Operation) -> Result<Vec<Bson>, GuardError> {
        Ok(self
            .perform(&operation)
            .await?
            .into_inserted_ids()
            .unwrap_or_default())
    }

    async fn update(&self, operation: Operation) -> Result<UpdateResult, GuardError> {
        Ok(self
            .perform(&operation)
            .await?
            .into_update()
            .unwrap_or_default())
    }

    async fn find_one_and(&self, operation: Operation) -> Result<Option<Document>, GuardError> {
        Ok(self.perform(&operation).await?.into_document().flatten())
    }

    /// `updateOne`.
    pub async fn update_one(
        &self,
        query: &Document,
        update: &Document,
        upsert: bool,
    ) -> Result<UpdateResult, GuardError> {
        let options = UpdateOptions {
            upsert,
            ..UpdateOptions::default()
        };
        self.update_one_with(query, update, &options).await
    }

    /// `updateOne` with its options (`upsert`, `arrayFilters`).
    pub async fn update_one_with(
        &self,
        query: &Document,
        update: &Document,
        options: &UpdateOptions,
    ) -> Result<UpdateResult, GuardError> {
        self.update(Operation::UpdateOne {
            filter: query.clone(),
            update: update.clone(),
            options: options.clone(),
        })
        .await
    }

    /// `updateMany` with its options (`upsert`, `arrayFilters`).
    pub async fn update_many_with(
        &self,
        query: &Document,
        update: &Document,
        options: &UpdateOptions,
    ) -> Result<UpdateResult, GuardError> {
        self.update(Operation::UpdateMany {
            filter: query.clone(),
            update: update.clone(),
            options: options.clone(),
        })
        .await
    }

    /// `findOneAndUpdate` with `arrayFilters`.
    pub async fn find_one_and_update_with(
        &self,
        query: &Document,
        update: &Document,
        options: &FindOneAndOptions,
        array_filters: &[Document],
    ) -> Result<Option<Document>, GuardError> {
        self.find_one_and(Operation::FindOneAndUpdate {
            filter: query.clone(),
            update: update.clone(),
            options: options.clone(),
            array_filters: array_filters.to_vec(),
        })
        .await
    }

    /// `updateMany`.
    pub async fn update_many(
        &self,
        query: &Document,
        update: &Document,
        upsert: bool,
    ) -> Result<UpdateResult, GuardError> {
        let options = UpdateOptions {
            upsert,
            ..UpdateOptions::default()
        };
        self.update_many_with(query, update, &options).await
    }

    /// `replaceOne`.
    pub async fn replace_one(
        &self,
        query: &Document,
        replacement: &Document,
        upsert: bool,
    ) -> Result<UpdateResult, GuardError> {
        self.update(Operation::ReplaceOne {
            filter: query.clone(),
            replacement: replacement.clone(),
            upsert,
        })
        .await
    }

    /// `deleteOne`.
    pub async fn delete_one(&self, query: &Document) -> Result<u64, GuardError> {
        let operation = Operation::DeleteOne {
            filter: query.clone(),
        };
        Ok(self.perform(&operation).await?.count().unwrap_or(0))
    }

    /// `deleteMany`.
    pub async fn delete_many(&self, query: &Document) -> Result<u64, GuardError> {
        let operation = Operation::DeleteMany {
            filter: query.clone(),
        };
        Ok(self.perform(&operation).await?.count().unwrap_or(0))
    }

    /// `findOneAndUpdate`.
    pub async fn find_one_and_update(
        &self,
        query: &Document,
        update: &Document,
        options: &FindOneAndOptions,
    ) -> Result<Option<Document>, GuardError> {
        self.find_one_and_update_with(query, update, options, &[])
            .await
    }

    /// `findOneAndReplace`.
    pub async fn find_one_and_replace(
        &self,
        query: &Document,
        replacement: &Document,
        options: &FindOneAndOptions,
    ) -> Result<Option<Document>, GuardError> {
        self.find_one_and(Operation::FindOneAndReplace {
            filter: query.clone(),
            replacement: replacement.clone(),
            options: options.clone(),
        })
        .await
    }

    /// `findOneAndDelete`.
    pub async fn find_one_and_delete(
        &self,
        query: &Document,
        options: &FindOneAndOptions,
    ) -> Result<Option<Document>, GuardError> {
        self.find_one_and(Operation::FindOneAndDelete {
            filter: query.clone(),
            options: options.clone(),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use bson::bson;

    use super::*;
    use crate::app::App;
    use crate::auth::BoxFuture;
    use crate::expr::{Bindings, FunctionCaller};
    use crate::functions::Thrown;
    use crate::rules::Denial;
    use crate::store::MemoryStore;

    /// A registry with nothing behind it but the app, a store and what it was asked.
    struct Fake {
        app: Arc<App>,
        store: MemoryStore,
        log: Mutex<Vec<String>>,
        denials: Mutex<usize>,
    }

    struct NoFunctions;

    impl FunctionCaller for NoFunctions {
        fn call(&self, _: &str, _: Vec<Bson>, _: &Bindings<'_>) -> Result<Bson, Thrown> {
            Err("no functions here".into())
        }
    }

    impl Registry<MemoryStore> for Fake {
        fn app(&self) -> &Arc<App> {
            &self.app
        }

        fn store(&self) -> &MemoryStore {
            &self.store
        }

        fn execute<'a>(
            &'a self,
            from: &'a Context<MemoryStore>,
            name: &'a str,
            _: Vec<Bson>,
        ) -> BoxFuture<'a, Result<Bson, FunctionError>> {
            Box::pin(async move {
                match name {
                    "missing" => Err(FunctionError::NotFound(name.to_owned())),
                    _ => Ok(bson!([name, from.execution_user().id.clone()])),
                }
            })
        }

        fn rule_functions(&self, _: &User, _: &CallTree) -> Box<dyn FunctionCaller> {
            Box::new(NoFunctions)
        }

        fn log(&self, line: String) {
            self.log.lock().unwrap().push(line);
        }

        fn explains_rules(&self) -> bool {
            false
        }

        fn record_denial(&self, _: &Denial) {
            *self.denials.lock().unwrap() += 1;
        }
    }

    fn context(registry: Arc<Fake>, user: User) -> Context<MemoryStore> {
        let tree = CallTree::new(Duration::from_secs(60), 1 << 20);
        Context::new(registry, user.clone(), user, 0, None, tree)
    }

    #[tokio::test]
    async fn a_context_needs_nothing_of_the_registry_but_its_trait() {
        let app = Arc::new(App::load("fixtures/app").unwrap().app);
        let store = MemoryStore::new();
        store
            .seed(&doc! {"notes_app.users": [{"_id": 1, "user_id": "alice"}]})
            .unwrap();
        let fake = Arc::new(Fake {
            app,
            store,
            log: Mutex::new(Vec::new()),
            denials: Mutex::new(0),
        });
        let alice = context(fake.clone(), User::new("alice"));
        assert_eq!(
            alice.value("supportEmail"),
            Some(bson!("support@example.com"))
        );
        assert_eq!(alice.service_names(), vec!["mongodb-atlas".to_owned()]);
        alice.log("hello".into());
        assert_eq!(*fake.log.lock().unwrap(), vec!["hello".to_owned()]);
        assert_eq!(
            alice.execute("f", vec![]).await.unwrap(),
            bson!(["f", "alice"])
        );
        assert_eq!(
            alice.execute("missing", vec![]).await.unwrap_err().code(),
            "FunctionNotFound"
        );
        // collections read the registry's store under the registry's app's rules
        let users = |ctx: &Context<MemoryStore>| {
            ctx.services()
                .get("mongodb-atlas")
                .unwrap()
                .db("notes_app")
                .collection("users")
        };
        assert_eq!(users(&alice).count(&doc! {}).await.unwrap(), 1);
        let denied = users(&alice).insert_one(doc! {"user_id": "alice"}).await;
        assert!(matches!(denied, Err(GuardError::Denied(_))), "{denied:?}");
        assert_eq!(*fake.denials.lock().unwrap(), 1);
        let system = context(fake.clone(), User::system());
        assert!(users(&system).insert_one(doc! {"_id": 2}).await.is_ok());
        assert_eq!(users(&system).count(&doc! {}).await.unwrap(), 2);
        // cheap to clone: a clone shares the registry
        let clone = alice.clone();
        assert!(Arc::ptr_eq(clone.registry(), alice.registry()));
    }
}
