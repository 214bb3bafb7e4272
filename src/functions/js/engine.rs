//! QuickJS runtimes kept between calls, one idle runtime per thread (at most
//! [`MAX_IDLE_ENGINES`] in the process), each with its hardened context ([`Realm`]), made once
//! and serving call after call.
//!
//! What a call can reach lives in the context; [`realm`](super::realm) says why nothing a call
//! leaves there reaches the next one. What the runtime keeps besides is not reachable from
//! JavaScript: interned property names (atoms), object shapes, the `Symbol.for` registry (a
//! registered symbol is the same for every caller by definition and carries no data), the
//! compiled-in class table.
//!
//! A runtime goes back to the pool only when its call ended cleanly: the context says it can
//! serve another call, no job is left in the queue, no allocation was refused (an out-of-memory
//! call may have left QuickJS mid-operation), the call was not interrupted (a timeout or a
//! cancellation stops a script anywhere), and its heap has not grown past
//! [`MAX_IDLE_GROWTH`] over what the new context held. Every other runtime is dropped, with its
//! context. The interrupt handler and the memory limit are set for each call.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rquickjs::Runtime;

use super::compiled::compiled;
use super::heap::Meter;
use super::realm::Realm;
use crate::functions::CallTree;

/// The largest stack a script may use.
const MAX_STACK_SIZE: usize = 1024 * 1024;

/// A runtime whose heap holds this much more than its new context did, once a call is over and
/// its cycles collected, is dropped rather than kept.
pub const MAX_IDLE_GROWTH: usize = 4 * 1024 * 1024;

/// Past this much growth over the new context, a finished call's cycles are collected.
const COLLECT_AFTER_GROWTH: usize = 512 * 1024;

/// The most runtimes kept idle in the whole process (tokio may run hundreds of blocking
/// threads; those past this many drop their runtime after each call, as before the pool).
pub const MAX_IDLE_ENGINES: usize = 128;

/// Runtimes kept idle now, all threads together.
static IDLE_ENGINES: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The runtime this thread keeps for its next call.
    static IDLE: RefCell<Option<Idle>> = const { RefCell::new(None) };
}

/// A runtime kept idle, counted in [`IDLE_ENGINES`] until it is taken or its thread ends.
struct Idle(Option<Engine>);

impl Idle {
    /// Keeps `engine` if fewer than [`MAX_IDLE_ENGINES`] are kept.
    fn keep(engine: Engine) -> Option<Idle> {
        let kept = IDLE_ENGINES.fetch_add(1, Ordering::AcqRel);
        if kept >= MAX_IDLE_ENGINES {
            IDLE_ENGINES.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Idle(Some(engine)))
    }

    fn take(mut self) -> Option<Engine> {
        self.0.take()
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        IDLE_ENGINES.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A QuickJS runtime, its hardened context, and the meter of its heap.
pub struct Engine {
    // Dropped before the runtime (field order).
    realm: Realm,
    runtime: Runtime,
    meter: Meter,
    /// What the heap held once the context was made.
    baseline: usize,
}

impl Engine {
    fn new() -> Result<Engine, String> {
        let meter = Meter::default();
        let runtime = Runtime::new_with_alloc(meter.allocator())
            .map_err(|e| format!("cannot start QuickJS: {e}"))?;
        runtime.set_max_stack_size(MAX_STACK_SIZE);
        let prelude = compiled()?;
        runtime.set_loader(prelude, prelude);
        let realm = Realm::new(&runtime)?;
        let baseline = meter.in_use();
        Ok(Engine {
            realm,
            runtime,
            meter,
            baseline,
        })
    }

    /// A runtime for one call of `tree`: this thread's idle one if it has one, else a new one
    /// (its context made and hardened before the call's limits apply); charged to the tree's
    /// memory budget, limited to `memory_limit` bytes more than its context holds, and stopped
    /// when the tree stops. [`Engine::stop_at`] adds an earlier stop.
    pub fn checkout(tree: &CallTree, memory_limit: usize) -> Result<Engine, String> {
        let idle = IDLE.with(|idle| idle.borrow_mut().take());
        let engine = match idle.and_then(Idle::take) {
            Some(engine) => engine,
            None => Engine::new()?,
        };
        if let Err(e) = engine.meter.bind(tree.memory().clone()) {
            let budget = tree.memory();
            return Err(format!(
                "cannot start QuickJS: {e} ({} of the call's {} MiB of JavaScript memory in use)",
                budget.used(),
                budget.limit() / (1024 * 1024)
            ));
        }
        engine
            .runtime
            .set_memory_limit(engine.meter.in_use().saturating_add(memory_limit));
        engine.stop_at(tree, None);
        Ok(engine)
    }

    /// Stops the script when `tree` stops or, if given, at `slice_end`.
    pub fn stop_at(&self, tree: &CallTree, slice_end: Option<Instant>) {
        let stop = tree.clone();
        self.runtime.set_interrupt_handler(Some(Box::new(move || {
            stop.stopped() || slice_end.is_some_and(|end| Instant::now() >= end)
        })));
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The hardened context.
    pub fn realm(&self) -> &Realm {
        &self.realm
    }

    /// Ends the call: the context ends it (unless `clean` is false already), the memory goes
    /// back to the call tree, and the runtime is kept for this thread's next call if nothing
    /// of the call can reach it.
    pub fn checkin(self, clean: bool) {
        self.runtime.set_interrupt_handler(None);
        if !clean || self.meter.refused() || !self.realm.end() {
            return;
        }
        self.meter.unbind();
        if self.runtime.is_job_pending() {
            return;
        }
        let growth = |engine: &Engine| engine.meter.in_use().saturating_sub(engine.baseline);
        if growth(&self) > COLLECT_AFTER_GROWTH {
            self.runtime.run_gc();
            if growth(&self) > MAX_IDLE_GROWTH {
                return;
            }
        }
        if let Some(kept) = Idle::keep(self) {
            IDLE.with(|idle| *idle.borrow_mut() = Some(kept));
        }
    }
}
