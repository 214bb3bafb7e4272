//! The write path: inserts, updates, replacements and deletes, each target checked, applied
//! all-or-nothing to the document versions the rules were checked on, retried on conflict.

use bson::{Bson, Document};

use super::options::{FindOneAndOptions, InsertOneResult, UpdateOptions, UpdateResult};
use super::read::{Order, Purpose};
use super::retry::{retrying, Attempt};
use super::view::{Seen, Sight};
use super::{add_query_fields, project, Caller, GuardError, GuardedCollection};
use crate::expr::{Footprint, KnownFields};
use crate::query::{Filter, Projection};
use crate::rules::{check_user_query, Denial, WriteKind};
use crate::store::{ensure_id, Store, Write};
use crate::update::{matched_position, Update, UpdateError};

/// Whether a query can match at most one document: it names a single `_id` value at the top
/// level (a plain value or `$eq`; a regular expression is a pattern).
fn names_one_id(query: &Document) -> bool {
    match query.get("_id") {
        None | Some(Bson::RegularExpression(_)) => false,
        Some(Bson::Document(d)) => match d.iter().next() {
            Some((k, v)) if d.len() == 1 && k == "$eq" => !matches!(v, Bson::RegularExpression(_)),
            Some((k, _)) => !k.starts_with('$'),
            None => true,
        },
        Some(_) => true,
    }
}

/// A single-document write's pre-image as the caller may read it (none for an upsert) and its
/// post-image.
type Images = Option<(Option<Document>, Document)>;

/// What one update or replacement does, for each of its attempts.
#[derive(Clone, Copy)]
struct UpdateWrite<'w> {
    query: &'w Document,
    update: &'w Update,
    upsert: bool,
    kind: WriteKind,
    order: Order<'w>,
    positional_query: Option<&'w Filter>,
}

impl<S: Store> GuardedCollection<'_, S> {
    /// Inserts one document (an `_id` is generated when missing).
    pub async fn insert_one(&self, document: Document) -> Result<InsertOneResult, GuardError> {
        let ids = self.insert_many(vec![document]).await?;
        Ok(InsertOneResult {
            inserted_id: ids.into_iter().next().unwrap_or(Bson::Null),
        })
    }

    /// Inserts documents, all or none.
    pub async fn insert_many(&self, documents: Vec<Document>) -> Result<Vec<Bson>, GuardError> {
        crate::store::check_documents(&documents)?;
        let documents: Vec<Document> = documents.into_iter().map(ensure_id).collect();
        if let Some(decider) = self.decider() {
            self.functions.forget();
            for doc in &documents {
                let decision = self
                    .decide_settled(|| decider.check_insert(doc, self.explain))
                    .await?;
                self.enforce(decision)?;
            }
        }
        let ids = documents
            .iter()
            .map(|d| d.get("_id").cloned().unwrap_or(Bson::Null))
            .collect();
        self.store
            .apply(
                &self.namespace,
                documents.into_iter().map(Write::Insert).collect(),
            )
            .await?;
        Ok(ids)
    }

    /// Turns a decision into the write's outcome: a denial is logged (`expanse::decisions`),
    /// recorded for explanations, and returned as [`GuardError::Denied`].
    fn enforce(&self, decision: Result<(), Box<Denial>>) -> Result<(), GuardError> {
        match decision {
            Ok(()) => Ok(()),
            Err(denial) => {
                let user = match &self.caller {
                    Caller::User { request, .. } => request.user.id.as_str(),
                    Caller::System => "",
                };
                tracing::info!(
                    target: "expanse::decisions",
                    decision = "denied",
                    operation = denial.kind.as_str(),
                    namespace = %self.namespace,
                    user,
                    role = denial.role.as_deref().unwrap_or("(none)"),
                    rule = %denial.rule,
                    "write denied"
                );
                self.record(|| {
                    std::iter::once(denial.to_string())
                        .chain(denial.trace.iter().map(|l| format!("  {l}")))
                });
                Err(GuardError::Denied(denial))
            }
        }
    }

    /// [`Self::enforce`] for a selected document: a denial names its `_id`, and the field it
    /// refuses, only when the caller may read them.
    fn check_seen(&self, decision: Result<(), Box<Denial>>, seen: &Seen) -> Result<(), GuardError> {
        self.enforce(decision.map_err(|mut denial| {
            if !seen.visible.contains_key("_id") {
                denial.id = None;
            }
            if let Some(field) = denial.field() {
                let parts: Vec<String> = field.split('.').map(str::to_owned).collect();
                let hidden = crate::update::get_path(seen.stored(), &parts).is_some()
                    && crate::update::get_path(&seen.visible, &parts).is_none();
                if hidden {
                    denial.hide_field();
                }
            }
            denial
        }))
    }

    /// An update that cannot apply to a selected document. When it fails the same way on the
    /// caller's view, the failure is the caller's to see (its message holds paths and types
    /// only); otherwise it comes from something the caller cannot read, which the write reaches
    /// into: that is refused as a denial, saying nothing of what is there.
    fn update_failure(
        &self,
        error: UpdateError,
        update: &Update,
        matched: Option<usize>,
        kind: WriteKind,
        seen: &Seen,
    ) -> GuardError {
        let Some(decider) = self.decider() else {
            return error.into();
        };
        if update
            .apply_positioned(&seen.visible, matched)
            .err()
            .as_ref()
            == Some(&error)
        {
            return error.into();
        }
        let stored = seen.stored();
        let role = decider.role_for(stored, Some(stored), &mut None);
        let denial = Denial {
            kind,
            id: seen.visible.get("_id").cloned(),
            role: role.map(|r| r.name.clone()),
            rule: format!(
                "the update reaches into {}, which the user cannot read",
                if error.path.is_empty() {
                    "a field"
                } else {
                    error.path.as_str()
                }
            ),
            at: role.map(|r| r.at.clone()),
            trace: Vec::new(),
        };
        match self.enforce(Err(Box::new(denial))) {
            Err(e) => e,
            Ok(()) => error.into(),
        }
    }

    /// Array filters are queries: a user's may not use what App Services reserves for the
    /// system user (regular expressions, `$where`, …), as in the query itself.
    fn check_array_filters(&self, filters: &[Document]) -> Result<(), GuardError> {
        if self.decider().is_some() {
            filters
                .iter()
                .try_for_each(|f| check_user_query(f, self.allow_regex()))?;
        }
        Ok(())
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

    /// `updateOne` with its options: `upsert`, and the `arrayFilters` that `$[<identifier>]`
    /// paths use. The positional operator `$` stands for the array position the query matched
    /// in each document, judged as the caller may read it.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// use bson::doc;
    /// use expanse::guard::UpdateOptions;
    /// use expanse::store::{MemoryStore, Namespace, Store, Write};
    /// use expanse::{App, User};
    /// let app = App::load("fixtures/app")?.app;
    /// let store = MemoryStore::new();
    /// let ns = Namespace::new("notes_app", "notes");
    /// store.apply(&ns, vec![Write::Insert(doc! {"_id": 1, "tags": ["a", "b", "a"]})]).await?;
    /// let system = User::system();
    /// let notes = app.collection(&store, &system, "notes_app", "notes")?;
    /// let options = UpdateOptions { array_filters: vec![doc! {"t": "a"}], ..Default::default() };
    /// notes.update_one_with(&doc! {"_id": 1}, &doc! {"$set": {"tags.$[t]": "z"}}, &options).await?;
    /// notes.update_one_with(&doc! {"tags": "b"}, &doc! {"$set": {"tags.$": "y"}}, &UpdateOptions::default()).await?;
    /// assert_eq!(store.documents(&ns), [doc! {"_id": 1, "tags": ["z", "y", "z"]}]);
    /// # Ok::<(), Box<dyn std::error::Error>>(()) })?; Ok(()) }
    /// ```
    pub async fn update_one_with(
        &self,
        query: &Document,
        update: &Document,
        options: &UpdateOptions,
    ) -> Result<UpdateResult, GuardError> {
        self.check_array_filters(&options.array_filters)?;
        let parsed = Update::parse_with(update, &options.array_filters)?;
        let upsert = options.upsert;
        if !upsert {
            if let Some(result) = self
                .update_one_with_rules_in_filter(query, update, &parsed)
                .await?
            {
                return Ok(result);
            }
        }
        self.update(query, &parsed, false, upsert, WriteKind::Update, None)
            .await
            .map(|(r, _)| r)
    }

    /// `updateOne` in one round trip, when the rules can ride in the update's own filter: the
    /// query names one `_id`, the update writes no field the query reads, it writes a field a
    /// document-level `write` reads
    /// ([`CollectionRules::post_image_footprint`](crate::rules::CollectionRules::post_image_footprint):
    /// what the in-process check decides on the post-image; the role and the document filters
    /// are decided on the stored document either way, so the update may write the fields they
    /// read) only as a whole top-level field set to a literal value by `$set` or removed by
    /// `$unset` (then `write` is decided on those values in process and on the stored document
    /// for everything else, in the filter), and the rules push down exactly for the written
    /// paths ([`Decider::write_filter_with`](crate::rules::Decider::write_filter_with)). The server then updates
    /// the document only if the rules allow it, atomically. `None` (nothing written) when any
    /// condition fails or nothing matched: the caller reads, decides and writes as usual, which
    /// gives the exact result or the denial.
    async fn update_one_with_rules_in_filter(
        &self,
        query: &Document,
        raw_update: &Document,
        update: &Update,
    ) -> Result<Option<UpdateResult>, GuardError> {
        // Coverage needs every rule evaluated in process; a positional or array-filtered
        // update depends on the query alone and on options the raw update does not carry.
        if self.coverage.is_some() || !names_one_id(query) || update.is_dynamic() {
            return Ok(None);
        }
        let Some(written) = update.written_paths() else {
            return Ok(None);
        };
        // Cheap checks first, before the filters are evaluated. The role, the document filters
        // and the collection filters are decided on the stored document (the pre-image) on
        // both paths, so the update may write fields they read; only what is decided on the
        // post-image — a document-level `write` — must read none of the written fields. The
        // query must not read them either.
        let (Caller::User { rules, .. }, Some(decider)) = (&self.caller, self.decider()) else {
            return Ok(None);
        };
        let post_read = rules.post_image_footprint();
        let mut query_read = Footprint::default();
        add_query_fields(query, &mut query_read);
        let reads = |read: &Footprint, path: &[String]| read.fields().any(|f| f == path[0]);
        if query_read.is_whole() || written.iter().any(|p| reads(&query_read, p)) {
            return Ok(None);
        }
        // A field a document-level `write` reads may be written when the update sets it to a
        // literal value or removes it, as a whole: `write` is then decided on those values
        // for the known fields and on the stored document for the rest, in the filter.
        let known = KnownFields::of_update(raw_update);
        let post_written: Vec<&Vec<String>> =
            written.iter().filter(|p| reads(&post_read, p)).collect();
        if post_read.is_whole()
            || post_written
                .iter()
                .any(|p| p.len() != 1 || !known.contains(&p[0]))
        {
            return Ok(None);
        }
        let known = (!post_written.is_empty()).then_some(&known);
        let Some(allowed) = decider.write_filter_with(&written, known) else {
            return Ok(None);
        };
        let Some(applied) = self.applied_filters()? else {
            return Ok(None);
        };
        // The query must read the same on the stored document as on the user's view.
        let sight = Sight {
            rules: decider.rules(),
            projection: applied.projection.as_ref(),
        };
        if !sight.whole_query(query) {
            return Ok(None);
        }
        check_user_query(query, self.allow_regex())?;
        let mut parts = vec![query.clone()];
        parts.extend(applied.queries);
        parts.push(allowed);
        let filter = crate::query::conjoin(parts);
        // A server error could quote the stored document: the in-process path reports it in
        // Expanse's words instead.
        let Ok(outcome) = self
            .store
            .update_one_where(&self.namespace, &filter, raw_update)
            .await
        else {
            return Ok(None);
        };
        match outcome {
            Some((1, modified)) => {
                self.record(|| {
                    [format!(
                        "updated in one round trip: the rules rode in the update's filter {}{}",
                        Bson::Document(filter).into_relaxed_extjson(),
                        if known.is_some() {
                            " (the document-level write decided on the values the update sets)"
                        } else {
                            ""
                        }
                    )]
                });
                Ok(Some(UpdateResult {
                    matched_count: 1,
                    modified_count: modified,
                    upserted_id: None,
                }))
            }
            _ => Ok(None),
        }
    }

    /// `updateMany`: every matched document must be allowed, or nothing changes. Unlike
    /// MongoDB, an update that fails on one document (a `$inc` on a string) changes none,
    /// not the documents before it.
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

    /// `updateMany` with its options (see [`Self::update_one_with`]). A replacement document
    /// is refused, as MongoDB refuses it.
    pub async fn update_many_with(
        &self,
        query: &Document,
        update: &Document,
        options: &UpdateOptions,
    ) -> Result<UpdateResult, GuardError> {
        self.check_array_filters(&options.array_filters)?;
        let update = Update::parse_with(update, &options.array_filters)?;
        if let Update::Replacement(_) = update {
            return Err(GuardError::Update(UpdateError {
                path: String::new(),
                message: "multi update is not supported for replacement-style update".into(),
            }));
        }
        self.update(
            query,
            &update,
            true,
            options.upsert,
            WriteKind::Update,
            None,
        )
        .await
        .map(|(r, _)| r)
    }

    /// `replaceOne`.
    pub async fn replace_one(
        &self,
        query: &Document,
        replacement: &Document,
        upsert: bool,
    ) -> Result<UpdateResult, GuardError> {
        let update = Update::replacement(replacement)?;
        self.update(query, &update, false, upsert, WriteKind::Replace, None)
            .await
            .map(|(r, _)| r)
    }

    /// `findOneAndUpdate`: the document before (or after) the change, as the caller may read it.
    pub async fn find_one_and_update(
        &self,
        query: &Document,
        update: &Document,
        options: &FindOneAndOptions,
    ) -> Result<Option<Document>, GuardError> {
        self.find_one_and_update_with(query, update, options, &[])
            .await
    }

    /// `findOneAndUpdate` with the `arrayFilters` that `$[<identifier>]` paths use (see
    /// [`UpdateOptions::from_document`] to read them from an options document).
    pub async fn find_one_and_update_with(
        &self,
        query: &Document,
        update: &Document,
        options: &FindOneAndOptions,
        array_filters: &[Document],
    ) -> Result<Option<Document>, GuardError> {
        self.check_array_filters(array_filters)?;
        let update = Update::parse_with(update, array_filters)?;
        self.find_one_and_write(query, &update, WriteKind::Update, options)
            .await
    }

    /// `findOneAndReplace`.
    pub async fn find_one_and_replace(
        &self,
        query: &Document,
        replacement: &Document,
        options: &FindOneAndOptions,
    ) -> Result<Option<Document>, GuardError> {
        let update = Update::replacement(replacement)?;
        self.find_one_and_write(query, &update, WriteKind::Replace, options)
            .await
    }

    async fn find_one_and_write(
        &self,
        query: &Document,
        update: &Update,
        kind: WriteKind,
        options: &FindOneAndOptions,
    ) -> Result<Option<Document>, GuardError> {
        let (_, images) = self
            .update(
                query,
                update,
                false,
                options.upsert,
                kind,
                options.sort.as_ref(),
            )
            .await?;
        let Some((pre, post)) = images else {
            return Ok(None);
        };
        let chosen = if options.return_new_document {
            self.visible_view(post).await?
        } else {
            pre
        };
        self.projected(chosen, options.projection.as_ref())
    }

    /// A returned document through the caller's projection.
    fn projected(
        &self,
        doc: Option<Document>,
        projection: Option<&Document>,
    ) -> Result<Option<Document>, GuardError> {
        let projection = projection.map(Projection::parse).transpose()?;
        Ok(doc.map(|d| project(d, projection.as_ref())))
    }

    /// The write pipeline shared by updates and replacements: select the targets among the
    /// documents the caller may read, compute post-images, check each, apply all-or-nothing,
    /// retry on conflict. Returns the result and, for single-document writes, the pre-image as
    /// the caller may read it and the post-image.
    async fn update(
        &self,
        query: &Document,
        update: &Update,
        multi: bool,
        upsert: bool,
        kind: WriteKind,
        sort: Option<&Document>,
    ) -> Result<(UpdateResult, Images), GuardError> {
        let order = Order {
            sort,
            skip: 0,
            limit: if multi { None } else { Some(1) },
        };
        self.functions.forget();
        let positional_query = if update.is_positional() {
            Some(Filter::parse(query)?)
        } else {
            None
        };
        let write = UpdateWrite {
            query,
            update,
            upsert,
            kind,
            order,
            positional_query: positional_query.as_ref(),
        };
        retrying(|| self.update_attempt(&write)).await
    }

    /// One attempt of [`Self::update`].
    async fn update_attempt(
        &self,
        write: &UpdateWrite<'_>,
    ) -> Result<Attempt<(UpdateResult, Images)>, GuardError> {
        let UpdateWrite {
            query,
            update,
            upsert,
            kind,
            order,
            positional_query,
        } = *write;
        let targets = self.select(query, order, Purpose::Write).await?;
        if targets.is_empty() {
            if !upsert {
                return Ok(Attempt::Done((UpdateResult::default(), None)));
            }
            let inserted = ensure_id(update.upsert_document(query)?);
            if let Some(decider) = self.decider() {
                let decision = self
                    .decide_settled(|| decider.check_insert(&inserted, self.explain))
                    .await?;
                self.enforce(decision)?;
            }
            let result = UpdateResult {
                matched_count: 0,
                modified_count: 0,
                upserted_id: inserted.get("_id").cloned(),
            };
            let applied = self
                .store
                .apply(&self.namespace, vec![Write::Insert(inserted.clone())])
                .await;
            return Attempt::of(applied, (result, Some((None, inserted))));
        }
        let mut writes = Vec::new();
        let mut images = None;
        for seen in &targets {
            let pre = seen.stored();
            // `$` stands for the position the query matched as the caller reads the document.
            let matched = positional_query.and_then(|q| matched_position(q, &seen.visible));
            let post = update
                .apply_positioned(pre, matched)
                .map_err(|e| self.update_failure(e, update, matched, kind, seen))?;
            if let Some(decider) = self.decider() {
                let decision = self
                    .decide_settled(|| decider.check_update(kind, pre, &post, self.explain))
                    .await?;
                self.check_seen(decision, seen)?;
            }
            if images.is_none() {
                images = Some((Some(seen.visible.clone()), post.clone()));
            }
            if post != *pre {
                writes.push(Write::Replace {
                    pre: pre.clone(),
                    post,
                });
            }
        }
        let result = UpdateResult {
            matched_count: targets.len() as u64,
            modified_count: writes.len() as u64,
            upserted_id: None,
        };
        let applied = self
            .store
            .apply_watching(&self.namespace, writes, &self.watched(query))
            .await;
        Attempt::of(applied, (result, images))
    }

    /// `deleteOne`.
    pub async fn delete_one(&self, query: &Document) -> Result<u64, GuardError> {
        Ok(self.delete(query, false, None).await?.len() as u64)
    }

    /// `deleteMany`: every matched document must be deletable, or nothing is deleted.
    pub async fn delete_many(&self, query: &Document) -> Result<u64, GuardError> {
        Ok(self.delete(query, true, None).await?.len() as u64)
    }

    /// `findOneAndDelete`: the deleted document, as the caller may read it.
    pub async fn find_one_and_delete(
        &self,
        query: &Document,
        options: &FindOneAndOptions,
    ) -> Result<Option<Document>, GuardError> {
        let deleted = self.delete(query, false, options.sort.as_ref()).await?;
        let first = deleted.into_iter().next().map(|seen| seen.visible);
        self.projected(first, options.projection.as_ref())
    }

    /// Deletes among the documents the caller may read; every target must be deletable.
    async fn delete(
        &self,
        query: &Document,
        multi: bool,
        sort: Option<&Document>,
    ) -> Result<Vec<Seen>, GuardError> {
        let order = Order {
            sort,
            skip: 0,
            limit: if multi { None } else { Some(1) },
        };
        self.functions.forget();
        retrying(|| self.delete_attempt(query, order)).await
    }

    /// One attempt of [`Self::delete`].
    async fn delete_attempt(
        &self,
        query: &Document,
        order: Order<'_>,
    ) -> Result<Attempt<Vec<Seen>>, GuardError> {
        let targets = self.select(query, order, Purpose::Write).await?;
        if let Some(decider) = self.decider() {
            for seen in &targets {
                let decision = self
                    .decide_settled(|| decider.check_delete(seen.stored(), self.explain))
                    .await?;
                self.check_seen(decision, seen)?;
            }
        }
        let writes = targets
            .iter()
            .map(|seen| Write::Delete {
                pre: seen.stored().clone(),
            })
            .collect();
        let applied = self
            .store
            .apply_watching(&self.namespace, writes, &self.watched(query))
            .await;
        Attempt::of(applied, targets)
    }
}
