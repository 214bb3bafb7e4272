//! Leases: one process at a time runs each trigger. A lease is a document in
//! `__expanse.trigger_leases` (`_id: "<app>/<trigger>"`, `holder`, `expires`), taken when it is
//! missing or expired and renewed by its holder every third of its time to live, each write
//! conditional on the version read. A holder that dies stops renewing; another process takes
//! the lease once it expires — within the lease's time to live plus one poll interval of the
//! holder's last renewal (assuming the processes' clocks agree).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bson::{doc, DateTime, Document};
use tokio::sync::watch;

use crate::store::{FindOptions, Namespace, Store, StoreError, Write};

/// The collection of leases (in [`super::state::STATE_DATABASE`]).
pub const LEASE_COLLECTION: &str = "trigger_leases";

/// The lease namespace.
pub fn lease_namespace() -> Namespace {
    Namespace::new(super::state::STATE_DATABASE, LEASE_COLLECTION)
}

fn now_ms() -> i64 {
    DateTime::now().timestamp_millis()
}

/// Reads a lease document.
pub async fn read<S: Store>(store: &S, id: &str) -> Result<Option<Document>, StoreError> {
    Ok(store
        .find(
            &lease_namespace(),
            &doc! {"_id": id},
            &FindOptions::default(),
        )
        .await?
        .into_iter()
        .next())
}

/// Takes the lease if it is free, expired or already ours; returns the local time until which
/// it is held (the time before the write plus the time to live), or `None` when another
/// process holds it.
async fn take<S: Store>(
    store: &S,
    id: &str,
    holder: &str,
    ttl: Duration,
) -> Result<Option<i64>, StoreError> {
    let started = now_ms();
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let post = doc! {
        "_id": id,
        "holder": holder,
        "expires": DateTime::from_millis(started.saturating_add(ttl_ms)),
        "renewed": DateTime::from_millis(started),
    };
    let write = match read(store, id).await? {
        None => Write::Insert(post),
        Some(pre) => {
            let ours = pre.get_str("holder").is_ok_and(|h| h == holder);
            let expired = pre
                .get_datetime("expires")
                .map_or(true, |e| e.timestamp_millis() < started);
            if !ours && !expired {
                return Ok(None);
            }
            Write::Replace { pre, post }
        }
    };
    match store.apply(&lease_namespace(), vec![write]).await {
        Ok(()) => Ok(Some(started.saturating_add(ttl_ms))),
        Err(StoreError::Conflict) | Err(StoreError::DuplicateKey { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Gives the lease up if we still hold it (so another process takes over at once).
async fn give_up<S: Store>(store: &S, id: &str, holder: &str) -> Result<(), StoreError> {
    if let Some(pre) = read(store, id).await? {
        if pre.get_str("holder").is_ok_and(|h| h == holder) {
            match store
                .apply(&lease_namespace(), vec![Write::Delete { pre }])
                .await
            {
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// A held lease, renewed in the background until dropped or released.
pub struct Lease {
    held_until: Arc<AtomicI64>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Lease {
    /// Tries to take the lease once; `None` when another live process holds it.
    pub async fn acquire<S: Store + Clone + 'static>(
        store: &S,
        id: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let Some(until) = take(store, id, holder, ttl).await? else {
            return Ok(None);
        };
        let held_until = Arc::new(AtomicI64::new(until));
        let (stop, mut stopped) = watch::channel(false);
        let renewing = held_until.clone();
        let (store, id, holder) = (store.clone(), id.to_owned(), holder.to_owned());
        let task = tokio::spawn(async move {
            let every = ttl / 3;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stopped.changed() => break,
                }
                match take(&store, &id, &holder, ttl).await {
                    Ok(Some(until)) => renewing.store(until, Ordering::Release),
                    Ok(None) => {
                        renewing.store(0, Ordering::Release);
                        tracing::warn!(lease = %id, "lease taken by another process");
                        return;
                    }
                    // Unreachable database: keep trying; the lease lapses at its deadline.
                    Err(e) => tracing::warn!(lease = %id, error = %e, "cannot renew lease"),
                }
            }
            if let Err(e) = give_up(&store, &id, &holder).await {
                tracing::warn!(lease = %id, error = %e, "cannot release lease");
            }
        });
        Ok(Some(Lease {
            held_until,
            stop,
            task: Some(task),
        }))
    }

    /// Whether the lease is still ours (by the local clock): no event may start otherwise.
    pub fn held(&self) -> bool {
        now_ms() < self.held_until.load(Ordering::Acquire)
    }

    /// Stops renewing and gives the lease up.
    pub async fn release(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
