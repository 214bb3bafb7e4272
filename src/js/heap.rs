//! The allocator of a call's QuickJS heap: Rust's allocator (through rquickjs's
//! [`RustAllocator`]), with every byte counted against the call tree's [`MemoryBudget`]. An
//! allocation the budget cannot cover fails, and QuickJS throws "out of memory" in the
//! function that asked for it; so the heaps of one client call never hold more than the budget
//! together, however deeply they nest.

use std::ptr;
use std::sync::Arc;

use rquickjs::allocator::{Allocator, RustAllocator};

use crate::functions::MemoryBudget;

/// Allocates for one QuickJS runtime from a call tree's budget.
pub struct BudgetAllocator {
    budget: Arc<MemoryBudget>,
}

impl BudgetAllocator {
    /// An allocator charging `budget`.
    pub fn new(budget: Arc<MemoryBudget>) -> BudgetAllocator {
        BudgetAllocator { budget }
    }

    /// Settles a charge of `charged` bytes for an allocation that turned out to be `actual`
    /// bytes (the allocator rounds sizes up a little).
    fn settle(&self, charged: usize, actual: usize) {
        if actual > charged {
            self.budget.take(actual - charged);
        } else {
            self.budget.give(charged - actual);
        }
    }
}

// SAFETY: every call is forwarded to `RustAllocator`, which upholds the trait's contract; this
// type only counts sizes (read with `RustAllocator::usable_size` from pointers it returned) and
// returns a null pointer, as the contract allows, when the budget cannot cover a request.
unsafe impl Allocator for BudgetAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.budget.try_take(size) {
            return ptr::null_mut();
        }
        let allocated = RustAllocator.alloc(size);
        if allocated.is_null() {
            self.budget.give(size);
            return allocated;
        }
        // SAFETY: `allocated` was just returned by `RustAllocator`.
        self.settle(size, unsafe { RustAllocator::usable_size(allocated) });
        allocated
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            return ptr::null_mut();
        };
        if !self.budget.try_take(total) {
            return ptr::null_mut();
        }
        let allocated = RustAllocator.calloc(count, size);
        if allocated.is_null() {
            self.budget.give(total);
            return allocated;
        }
        // SAFETY: `allocated` was just returned by `RustAllocator`.
        self.settle(total, unsafe { RustAllocator::usable_size(allocated) });
        allocated
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        // SAFETY: the caller guarantees `ptr` came from this allocator, hence from
        // `RustAllocator`.
        let size = unsafe { RustAllocator::usable_size(ptr) };
        // SAFETY: as above.
        unsafe { RustAllocator.dealloc(ptr) };
        self.budget.give(size);
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` came from this allocator, hence from
        // `RustAllocator`.
        let old_size = unsafe { RustAllocator::usable_size(ptr) };
        let growth = new_size.saturating_sub(old_size);
        if !self.budget.try_take(growth) {
            return ptr::null_mut();
        }
        // SAFETY: as above; on failure the old allocation is left as it was.
        let moved = unsafe { RustAllocator.realloc(ptr, new_size) };
        if moved.is_null() {
            self.budget.give(growth);
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
