//! What one client call shares with every call it makes (`context.functions.execute`, `%function`
//! in the rules its reads and writes evaluate): one deadline, one cancellation, one JavaScript
//! memory budget.
//!
//! - The deadline is fixed when the client call starts; a nested call gets only what is left
//!   of it (a `%function` rule call gets at most its own short limit within it).
//! - Each call has a cancellation flag under its caller's: a call is stopped when its own
//!   future, or any caller's, is dropped (a timeout or a client that went away), or when the
//!   deadline passes. JavaScript checks this in QuickJS's interrupt handler and while waiting
//!   for the host.
//! - JavaScript heaps allocate from the tree's budget: the heaps of one client call never hold
//!   more than the budget together (an allocation past it fails, and QuickJS throws "out of
//!   memory" in the function that made it).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shared limits of one client call and its nested calls.
#[derive(Clone, Debug)]
pub struct CallTree {
    deadline: Instant,
    limit: Duration,
    cancel: Arc<CancelNode>,
    memory: Arc<MemoryBudget>,
}

#[derive(Debug)]
struct CancelNode {
    cancelled: AtomicBool,
    parent: Option<Arc<CancelNode>>,
}

impl CancelNode {
    fn is_cancelled(&self) -> bool {
        let mut node = Some(self);
        while let Some(n) = node {
            if n.cancelled.load(Ordering::Relaxed) {
                return true;
            }
            node = n.parent.as_deref();
        }
        false
    }
}

impl CallTree {
    /// A new tree for a client call: `time_limit` from now, `memory_limit` bytes of JavaScript
    /// heap in all.
    pub fn new(time_limit: Duration, memory_limit: usize) -> CallTree {
        CallTree {
            deadline: Instant::now() + time_limit,
            limit: time_limit,
            cancel: Arc::new(CancelNode {
                cancelled: AtomicBool::new(false),
                parent: None,
            }),
            memory: Arc::new(MemoryBudget::new(memory_limit)),
        }
    }

    /// A nested call's share: the same deadline and memory, cancelled with this call.
    pub fn child(&self) -> CallTree {
        CallTree {
            cancel: Arc::new(CancelNode {
                cancelled: AtomicBool::new(false),
                parent: Some(self.cancel.clone()),
            }),
            ..self.clone()
        }
    }

    /// A nested call with its own, shorter limit (`%function` in rules): at most `limit` from
    /// now, and never past this tree's deadline.
    pub fn child_within(&self, limit: Duration) -> CallTree {
        let own = Instant::now() + limit;
        let mut child = self.child();
        if own < child.deadline {
            child.deadline = own;
            child.limit = limit;
        }
        child
    }

    /// When the whole tree must have finished.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The time limit the deadline was set from (for messages).
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Whether this call must stop: its deadline passed, or it or a caller was cancelled.
    pub fn stopped(&self) -> bool {
        Instant::now() >= self.deadline || self.cancel.is_cancelled()
    }

    /// Stops this call and every call under it.
    pub fn cancel(&self) {
        self.cancel.cancelled.store(true, Ordering::Relaxed);
    }

    /// The tree's JavaScript memory budget.
    pub fn memory(&self) -> &Arc<MemoryBudget> {
        &self.memory
    }
}

/// Cancels a call when dropped: a call future dropped before it finished (a timeout, a client
/// gone) stops whatever it started.
pub struct CancelOnDrop(pub CallTree);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The JavaScript heap budget of one call tree: what all its heaps may hold together. Heaps
/// take from it as they allocate and give back as they free.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    fn new(limit: usize) -> MemoryBudget {
        MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// The whole budget.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// What the tree's heaps hold now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `bytes` if the budget has them.
    pub fn try_take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    /// Takes `bytes` whatever is left (a few bytes of rounding the allocator adds).
    pub fn take(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Gives back `bytes` taken earlier.
    pub fn give(&self, bytes: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_share_the_deadline_and_stop_with_their_callers() {
        let root = CallTree::new(Duration::from_secs(60), 100);
        let child = root.child();
        let grandchild = child.child();
        assert_eq!(grandchild.deadline(), root.deadline());
        grandchild.cancel();
        assert!(grandchild.stopped() && !child.stopped() && !root.stopped());
        root.cancel();
        assert!(child.stopped());
        let short = CallTree::new(Duration::from_secs(60), 1).child_within(Duration::ZERO);
        assert!(short.stopped());
        assert_eq!(short.limit(), Duration::ZERO);
    }

    #[test]
    fn the_budget_is_shared() {
        let tree = CallTree::new(Duration::from_secs(1), 100);
        let child = tree.child();
        assert!(tree.memory().try_take(70));
        assert!(!child.memory().try_take(31));
        assert!(child.memory().try_take(30));
        tree.memory().give(70);
        assert_eq!(child.memory().used(), 30);
    }
}
