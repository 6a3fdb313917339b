//! Batches, shared by both modules' shells: work that must wait until the current
//! entry point (an API call, a DOM event, a timer, an HTTP answer) is done is
//! queued and run, in order, when the outermost batch ends. A batch started by
//! that work (a listener calling segflow) runs its own work at once, and what it
//! queues joins the end of the queue. Each module keeps its own `Batches` of its
//! own kind of work (`dispatch::Deferred`, `content::bridge::Deferred`).

#[allow(unused_imports)]
use crate::prelude::*;

use core::cell::{Cell, RefCell};

/// The queue of work of kind `T`, and how deep batches are nested.
pub struct Batches<T> {
    /// In order; a `Vec` taken whole by [`Batches::leave`] rather than a
    /// `VecDeque` (whose code costs about 1 KB of wasm per module).
    queue: RefCell<Vec<T>>,
    depth: Cell<u32>,
}

impl<T> Batches<T> {
    /// No batch running, nothing queued.
    pub const fn new() -> Self {
        Batches {
            queue: RefCell::new(Vec::new()),
            depth: Cell::new(0),
        }
    }

    /// Runs `f` as a batch; when it is the outermost, then runs the queued work
    /// with `run` (still inside the batch, so work it causes is queued behind).
    pub fn batch<R>(&self, run: fn(T), f: impl FnOnce() -> R) -> R {
        self.depth.set(self.depth.get() + 1);
        let out = f();
        self.leave(run);
        out
    }

    /// Ends a batch (not generic over the caller's closure, so that [`batch`]
    /// stays small at every call site).
    ///
    /// [`batch`]: Batches::batch
    #[inline(never)]
    fn leave(&self, run: fn(T)) {
        if self.depth.get() == 1 {
            // What runs now queues behind what is taken: first in, first out.
            loop {
                let work = self
                    .queue
                    .try_borrow_mut()
                    .map(|mut q| core::mem::take(&mut *q))
                    .unwrap_or_default();
                if work.is_empty() {
                    break;
                }
                for next in work {
                    run(next);
                }
            }
        }
        self.depth.set(self.depth.get().saturating_sub(1));
    }

    /// Queues `work` for the end of the current batch, or runs it now, as a batch
    /// of its own, when none is running.
    #[inline(never)]
    pub fn defer(&self, run: fn(T), work: T) {
        if let Ok(mut q) = self.queue.try_borrow_mut() {
            q.push(work);
        }
        if self.depth.get() == 0 {
            self.batch(run, || {});
        }
    }
}
