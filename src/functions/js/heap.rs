//! The allocator of a call's QuickJS heap: Rust's allocator (through rquickjs's
//! [`RustAllocator`]), with every byte counted against the call tree's [`MemoryBudget`]. An
//! allocation the budget cannot cover fails, and QuickJS throws "out of memory" in the
//! function that asked for it; so the heaps of one client call never hold more than the budget
//! together, however deeply they nest.
//!
//! Each heap takes from the shared budget in chunks of [`CHUNK`] bytes and serves its
//! allocations from what it holds, so most allocations touch no shared counter. What a heap
//! holds counts against the budget whether it is in use or not: the bound is exact, and a heap
//! may be refused at most one chunk early.

use std::ptr;
use std::sync::Arc;

use rquickjs::allocator::{Allocator, RustAllocator};

use crate::functions::MemoryBudget;

/// How much a heap takes from the shared budget at a time.
const CHUNK: usize = 256 * 1024;

/// Requests are rounded up to this, as malloc does: QuickJS grows strings and arrays into the
/// slack an allocation reports, and exact sizes cost it more reallocations.
const GRANULE: usize = 16;

/// Allocates for one QuickJS runtime from a call tree's budget.
pub struct BudgetAllocator {
    budget: Arc<MemoryBudget>,
    /// Taken from the budget and not in use.
    spare: usize,
    /// Taken from the budget in all (in use and spare), given back when the heap is dropped.
    held: usize,
}

impl BudgetAllocator {
    /// An allocator charging `budget`.
    pub fn new(budget: Arc<MemoryBudget>) -> BudgetAllocator {
        BudgetAllocator {
            budget,
            spare: 0,
            held: 0,
        }
    }

    /// Sets `bytes` aside for an allocation, taking more from the budget if needed.
    fn charge(&mut self, bytes: usize) -> bool {
        if bytes > self.spare {
            let wanted = (bytes - self.spare).max(CHUNK);
            let missing = bytes - self.spare;
            let taken = if self.budget.try_take(wanted) {
                wanted
            } else if self.budget.try_take(missing) {
                missing
            } else {
                return false;
            };
            self.spare += taken;
            self.held += taken;
        }
        self.spare -= bytes;
        true
    }

    /// Returns `bytes` no longer in use, giving spare chunks back to the budget.
    fn credit(&mut self, bytes: usize) {
        self.spare += bytes;
        if self.spare > 2 * CHUNK {
            let surplus = self.spare - CHUNK;
            self.spare -= surplus;
            self.held -= surplus;
            self.budget.give(surplus);
        }
    }

    /// Settles a charge of `charged` bytes for an allocation that turned out to be `actual`
    /// bytes (the allocator rounds sizes up a little): always succeeds, by at most a few bytes
    /// past the budget.
    fn settle(&mut self, charged: usize, actual: usize) {
        if actual > charged {
            if !self.charge(actual - charged) {
                self.budget.take(actual - charged);
                self.held += actual - charged;
            }
        } else {
            self.credit(charged - actual);
        }
    }
}

impl Drop for BudgetAllocator {
    fn drop(&mut self) {
        self.budget.give(self.held);
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
        let mut a = BudgetAllocator::new(budget.clone());
        let p = a.alloc(100);
        assert!(!p.is_null());
        assert_eq!(budget.used(), CHUNK);
        let mut b = BudgetAllocator::new(budget.clone());
        assert!(b.alloc(2 * CHUNK + 1).is_null(), "past the budget");
        let q = b.alloc(2 * CHUNK - 64);
        assert!(!q.is_null(), "what is left, even less than a chunk");
        // SAFETY: both pointers come from these allocators.
        unsafe {
            a.dealloc(p);
            b.dealloc(q);
        }
        drop(a);
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}
