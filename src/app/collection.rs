//! The guarded collections of an app: a collection as one user sees it through the rules.

use crate::app::{App, NoMatchingRule};
use crate::guard::{Caller, GuardedCollection};
use crate::rules::RequestContext;
use crate::store::{Namespace, Store};
use crate::User;

impl App {
    /// The collection `database.collection` of the app's default data source, as `user` sees it
    /// through the rules (the system user bypasses them).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use expanse::{store::MemoryStore, App, User};
    /// let app = App::load("fixtures/app")?.app;
    /// let store = MemoryStore::new();
    /// let alice = User::new("64b7f0c2a1b2c3d4e5f60001");
    /// let notes = app.collection(&store, &alice, "notes_app", "notes")?;
    /// # let _ = notes; Ok(()) }
    /// ```
    pub fn collection<'a, S: Store>(
        &'a self,
        store: &'a S,
        user: &'a User,
        database: &str,
        collection: &str,
    ) -> Result<GuardedCollection<'a, S>, NoMatchingRule> {
        let service = self.default_service().unwrap_or("mongodb-atlas");
        self.service_collection(store, user, service, database, collection)
    }

    /// Like [`App::collection`] for a named data source.
    pub fn service_collection<'a, S: Store>(
        &'a self,
        store: &'a S,
        user: &'a User,
        service: &str,
        database: &str,
        collection: &str,
    ) -> Result<GuardedCollection<'a, S>, NoMatchingRule> {
        let caller = if user.is_system() {
            Caller::System
        } else {
            Caller::User {
                allow_regex: self.query.allow_user_regex,
                rules: self.rules(service, database, collection)?,
                request: RequestContext {
                    user,
                    values: &self.values,
                    environment: &self.environment,
                    request: None,
                    functions: None,
                },
            }
        };
        Ok(GuardedCollection::new(
            store,
            Namespace::new(database, collection),
            caller,
        ))
    }
}
