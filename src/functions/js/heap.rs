//! The allocator of a QuickJS heap: Rust's allocator (through rquickjs's [`RustAllocator`]),
//! with every byte counted against the [`MemoryBudget`] of the call tree the heap is serving.
//! An allocation the budget cannot cover fails, and QuickJS throws "out of memory" in the
//! function that asked for it; so the heaps of one client call never hold more than the budget
//! together, however deeply they nest.
//!
//! A heap outlives its calls (the engine pool reuses runtimes), so the budget is bound per call
//! through a [`Meter`]: binding charges the call tree for everything the heap holds at that
//! moment (the runtime's own tables included), every allocation of the call is charged as it
//! happens, and unbinding gives it all back. Between calls the heap is charged to nobody.
//!
//! Each heap takes from the shared budget in chunks of [`CHUNK`] bytes and serves its
//! allocations from what it holds, so most allocations touch no shared counter. What a heap
//! holds counts against the budget whether it is in use or not: the bound is exact, and a heap
//! may be refused at most one chunk early.

use std::cell::RefCell;
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;

use rquickjs::allocator::{Allocator, RustAllocator};

use crate::functions::MemoryBudget;

/// How much a heap takes from the shared budget at a time.
const CHUNK: usize = 256 * 1024;

/// Requests are rounded up to this, as malloc does: QuickJS grows strings and arrays into the
/// slack an allocation reports, and exact sizes cost it more reallocations.
const GRANULE: usize = 16;

/// What one heap holds, and which budget pays for it.
#[derive(Default)]
struct Account {
    /// The call tree's budget while a call runs.
    budget: Option<Arc<MemoryBudget>>,
    /// Bytes QuickJS holds (usable sizes).
    in_use: usize,
    /// Taken from the budget (in use and spare), given back when unbound.
    held: usize,
    /// Whether an allocation was refused since the last bind.
    refused: bool,
}

impl Account {
    /// Sets `bytes` aside for an allocation, taking more from the budget if needed.
    fn charge(&mut self, bytes: usize) -> bool {
        let Some(needed) = self.in_use.checked_add(bytes) else {
            self.refused = true;
            return false;
        };
        if let Some(budget) = &self.budget {
            if needed > self.held {
                let missing = needed - self.held;
                let wanted = missing.max(CHUNK);
                let taken = if budget.try_take(wanted) {
                    wanted
                } else if budget.try_take(missing) {
                    missing
                } else {
                    self.refused = true;
                    return false;
                };
                self.held += taken;
            }
        }
        self.in_use = needed;
        true
    }

    /// Returns `bytes` no longer in use, giving spare chunks back to the budget.
    fn credit(&mut self, bytes: usize) {
        self.in_use = self.in_use.saturating_sub(bytes);
        if let Some(budget) = &self.budget {
            let spare = self.held.saturating_sub(self.in_use);
            if spare > 2 * CHUNK {
                let surplus = spare - CHUNK;
                self.held -= surplus;
                budget.give(surplus);
            }
        }
    }

    /// Settles a charge of `charged` bytes for an allocation that turned out to be `actual`
    /// bytes (the allocator rounds sizes up a little): always succeeds, by at most a few bytes
    /// past the budget.
    fn settle(&mut self, charged: usize, actual: usize) {
        if actual > charged {
            let extra = actual - charged;
            if !self.charge(extra) {
                self.in_use += extra;
                if let Some(budget) = &self.budget {
                    let missing = self.in_use.saturating_sub(self.held);
                    budget.take(missing);
                    self.held += missing;
                }
            }
        } else {
            self.credit(charged - actual);
        }
    }

    fn unbind(&mut self) {
        if let Some(budget) = self.budget.take() {
            budget.give(self.held);
        }
        self.held = 0;
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        self.unbind();
    }
}

/// The handle the engine keeps on its heap's account, to bind it to a call's budget.
#[derive(Clone, Default)]
pub struct Meter(Rc<RefCell<Account>>);

/// A heap that cannot join a call's budget: it already holds more than the budget has left.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the engine's heap holds {held} bytes, more than is left of the call's budget")]
pub struct BindError {
    /// What the heap holds.
    pub held: usize,
}

impl Meter {
    /// The allocator for a new runtime, counting on this meter.
    pub fn allocator(&self) -> BudgetAllocator {
        BudgetAllocator {
            account: self.0.clone(),
        }
    }

    /// Charges `budget` for what the heap holds now, and for everything it allocates until
    /// [`Meter::unbind`].
    pub fn bind(&self, budget: Arc<MemoryBudget>) -> Result<(), BindError> {
        let mut account = self.0.borrow_mut();
        account.unbind();
        if !budget.try_take(account.in_use) {
            return Err(BindError {
                held: account.in_use,
            });
        }
        account.held = account.in_use;
        account.budget = Some(budget);
        account.refused = false;
        Ok(())
    }

    /// Gives back everything the bound budget was charged.
    pub fn unbind(&self) {
        self.0.borrow_mut().unbind();
    }

    /// Whether an allocation was refused since the last bind (QuickJS threw "out of memory").
    pub fn refused(&self) -> bool {
        self.0.borrow().refused
    }

    /// The bytes the heap holds.
    pub fn in_use(&self) -> usize {
        self.0.borrow().in_use
    }
}

/// Allocates for one QuickJS runtime, counting on a [`Meter`].
pub struct BudgetAllocator {
    account: Rc<RefCell<Account>>,
}

impl BudgetAllocator {
    fn charge(&mut self, bytes: usize) -> bool {
        self.account.borrow_mut().charge(bytes)
    }

    fn credit(&mut self, bytes: usize) {
        self.account.borrow_mut().credit(bytes);
    }

    fn settle(&mut self, charged: usize, actual: usize) {
        self.account.borrow_mut().settle(charged, actual);
    }
}

// SAFETY: every call is forwarded to `RustAllocator`, which upholds the trait's contract; this
// type only counts sizes (read with `RustAllocator::usable_size` from pointers it returned) and
// returns a null pointer, as the contract allows, when the budget cannot cover a request.
unsafe impl Allocator for BudgetAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        let size = size.next_multiple_of(GRANULE);
        if !self.charge(size) {
            return ptr::null_mut();
        }
        let allocated = RustAllocator.alloc(size);
        if allocated.is_null() {
            self.credit(size);
            return allocated;
        }
        // SAFETY: `allocated` was just returned by `RustAllocator`.
        let actual = unsafe { RustAllocator::usable_size(allocated) };
        self.settle(size, actual);
        allocated
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            return ptr::null_mut();
        };
        if !self.charge(total) {
            return ptr::null_mut();
        }
        let allocated = RustAllocator.calloc(count, size);
        if allocated.is_null() {
            self.credit(total);
            return allocated;
        }
        // SAFETY: `allocated` was just returned by `RustAllocator`.
        let actual = unsafe { RustAllocator::usable_size(allocated) };
        self.settle(total, actual);
        allocated
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        // SAFETY: the caller guarantees `ptr` came from this allocator, hence from
        // `RustAllocator`.
        let size = unsafe { RustAllocator::usable_size(ptr) };
        // SAFETY: as above.
        unsafe { RustAllocator.dealloc(ptr) };
        self.credit(size);
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        let new_size = new_size.next_multiple_of(GRANULE);
        // SAFETY: the caller guarantees `ptr` came from this allocator, hence from
        // `RustAllocator`.
        let old_size = unsafe { RustAllocator::usable_size(ptr) };
        let growth = new_size.saturating_sub(old_size);
        if !self.charge(growth) {
            return ptr::null_mut();
        }
        // SAFETY: as above; on failure the old allocation is left as it was.
        let moved = unsafe { RustAllocator.realloc(ptr, new_size) };
        if moved.is_null() {
            self.credit(growth);
            return moved;
        }
        // SAFETY: `moved` was just returned by `RustAllocator`.
        let actual = unsafe { RustAllocator::usable_size(moved) };
        self.settle(old_size + growth, actual);
        moved
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: the caller guarantees `ptr` came from this allocator, hence from
        // `RustAllocator`.
        unsafe { RustAllocator::usable_size(ptr) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn heaps_take_and_give_back_whole_chunks_within_the_budget() {
        let tree = crate::functions::CallTree::new(Duration::from_secs(1), 3 * CHUNK);
        let budget = tree.memory().clone();
        let (ma, mb) = (Meter::default(), Meter::default());
        let (mut a, mut b) = (ma.allocator(), mb.allocator());
        ma.bind(budget.clone()).unwrap();
        mb.bind(budget.clone()).unwrap();
        let p = a.alloc(100);
        assert!(!p.is_null());
        assert_eq!(budget.used(), CHUNK);
        assert!(b.alloc(2 * CHUNK + 1).is_null(), "past the budget");
        assert!(mb.refused());
        let q = b.alloc(2 * CHUNK - 64);
        assert!(!q.is_null(), "what is left, even less than a chunk");
        // SAFETY: both pointers come from these allocators.
        unsafe {
            a.dealloc(p);
            b.dealloc(q);
        }
        ma.unbind();
        mb.unbind();
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn binding_charges_what_the_heap_already_holds() {
        let meter = Meter::default();
        let mut heap = meter.allocator();
        let p = heap.alloc(1000);
        let held = meter.in_use();
        assert!(held >= 1000);
        let small = crate::functions::CallTree::new(Duration::from_secs(1), held - 1);
        assert!(meter.bind(small.memory().clone()).is_err());
        assert_eq!(small.memory().used(), 0);
        let tree = crate::functions::CallTree::new(Duration::from_secs(1), CHUNK);
        meter.bind(tree.memory().clone()).unwrap();
        assert_eq!(tree.memory().used(), held);
        // SAFETY: the pointer comes from this allocator.
        unsafe { heap.dealloc(p) };
        meter.unbind();
        assert_eq!(tree.memory().used(), 0);
        assert_eq!(meter.in_use(), 0);
    }
}
