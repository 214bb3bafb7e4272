//! QuickJS runtimes kept between calls, one idle runtime per thread (at most
//! [`MAX_IDLE_ENGINES`] in the process), each call in a fresh context.
//!
//! What a call can reach lives in its context: the global object, every prototype and
//! constructor, `context`, the prelude's state, the promise and timer closures. A fresh context
//! per call shares none of it with an earlier call. What the runtime keeps across contexts is
//! not reachable from JavaScript: interned property names (atoms), object shapes, the
//! `Symbol.for` registry (a registered symbol is the same for every caller by definition and
//! carries no data), the compiled-in class table.
//!
//! What could carry a value from one call to the next is the runtime's job queue (a promise
//! reaction or a `FinalizationRegistry` callback of the old context) and the runtime's
//! settings; so a runtime goes back to the pool only when its call ended cleanly: no job left
//! after the old context was collected, no allocation refused (an out-of-memory call may have
//! left QuickJS mid-operation), not interrupted (a timeout or a cancellation stops a script
//! anywhere), and a heap back under [`MAX_IDLE_HEAP`]. Every other runtime is dropped.
//! The interrupt handler and the memory limit are set for each call.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rquickjs::Runtime;

use super::compiled::compiled;
use super::heap::Meter;
use crate::functions::CallTree;

/// The largest stack a script may use.
const MAX_STACK_SIZE: usize = 1024 * 1024;

/// A runtime holding more than this once its call is over is dropped rather than kept.
pub const MAX_IDLE_HEAP: usize = 4 * 1024 * 1024;

/// The most runtimes kept idle in the whole process (tokio may run hundreds of blocking
/// threads; those past this many drop their runtime after each call, as before the pool).
pub const MAX_IDLE_ENGINES: usize = 32;

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

/// A QuickJS runtime and the meter of its heap.
pub struct Engine {
    runtime: Runtime,
    meter: Meter,
}

impl Engine {
    fn new() -> Result<Engine, String> {
        let meter = Meter::default();
        let runtime = Runtime::new_with_alloc(meter.allocator())
            .map_err(|e| format!("cannot start QuickJS: {e}"))?;
        runtime.set_max_stack_size(MAX_STACK_SIZE);
        let prelude = compiled()?;
        runtime.set_loader(prelude, prelude);
        Ok(Engine { runtime, meter })
    }

    /// A runtime for one call of `tree`: this thread's idle one if it has one, else a new one;
    /// charged to the tree's memory budget, limited to `memory_limit` bytes, and stopped when
    /// the tree stops or, if given, at `slice_end`.
    pub fn checkout(
        tree: &CallTree,
        memory_limit: usize,
        slice_end: Option<Instant>,
    ) -> Result<Engine, String> {
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
        engine.runtime.set_memory_limit(memory_limit);
        let stop = tree.clone();
        engine.runtime.set_interrupt_handler(Some(Box::new(move || {
            stop.stopped() || slice_end.is_some_and(|end| Instant::now() >= end)
        })));
        Ok(engine)
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Ends the call (its context must be dropped already): collects what the call left,
    /// gives the memory back to the call tree, and keeps the runtime for this thread's next
    /// call if `clean` and nothing of the call can reach it.
    pub fn checkin(self, clean: bool) {
        self.runtime.set_interrupt_handler(None);
        if !clean || self.meter.refused() {
            return;
        }
        self.runtime.run_gc();
        self.meter.unbind();
        if self.runtime.is_job_pending() || self.meter.in_use() > MAX_IDLE_HEAP {
            return;
        }
        if let Some(kept) = Idle::keep(self) {
            IDLE.with(|idle| *idle.borrow_mut() = Some(kept));
        }
    }
}
