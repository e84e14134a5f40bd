//! Groups of threads named alike, formed during the pass so that a pass that merges threads can
//! still say which group of threads held what: the main thread, each name shape
//! (`Thread-N (process_request_thread)`, see [`thread_name_shape`]), the threads that were never
//! named, and the rest once there are too many shapes.
//!
//! A thread's class is known once it is named, but memray writes a thread's name (THREAD_RECORD)
//! after its first allocations: every request thread of the Flask fixture allocates twice before
//! it is named. So a thread starts *pending*: its first [`PENDING_ALLOCATIONS`] allocations get
//! sites of their own, keyed by the thread as `--split-threads` keys them, and the pass's end
//! puts those sites in the group of the thread's final class. A thread still unnamed after that
//! many allocations joins the unnamed class, so per-thread sites stay bounded whatever the
//! number of threads.

use rustc_hash::FxHashMap;

use crate::group::thread_name_shape;

/// The class of a site that belongs to one pending thread (keyed by the thread).
pub(crate) const PENDING: u32 = u32::MAX;
/// The main thread's class.
pub(crate) const MAIN: u32 = 0;
/// Threads never named within their first [`PENDING_ALLOCATIONS`] allocations.
pub(crate) const UNNAMED: u32 = 1;
/// Threads whose name shape came after [`MAX_SHAPES`] others.
pub(crate) const OTHER: u32 = 2;

/// Allocations of a thread that may come before its name, on sites of the thread's own: memray
/// 1.20 writes a request thread's name after its second or third allocation.
pub const PENDING_ALLOCATIONS: u32 = 4;

/// Name shapes that get a class of their own. A hostile capture can name every thread
/// differently; past this many shapes the classes would cost what per-thread sites cost.
pub(crate) const MAX_SHAPES: usize = 64;

/// What a thread is, as far as the pass has read.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Not named yet, after this many allocations.
    Pending(u32),
    /// In a class.
    Class(u32),
}

/// One group of threads named alike, as a pass that merged threads formed it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PassThreadGroup {
    /// What the group's threads have in common: `None` for the main thread, for threads never
    /// named and for the overflow of shapes; otherwise the name with its digits as `N`.
    pub pattern: Option<String>,
    /// What the group is.
    pub kind: PassGroupKind,
    /// Threads that joined the group during the run.
    pub threads: u64,
    /// The group's smallest thread id: the thread its rows carry
    /// ([`crate::Threads::Grouped`]).
    pub first_tid: u64,
}

/// What a [`PassThreadGroup`] stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PassGroupKind {
    /// The header's main thread.
    Main,
    /// Threads never named (memray before 1.13 names only threads that call `prctl`).
    Unnamed,
    /// Threads whose names have one shape.
    Named,
    /// Threads whose name shapes came after the first 64.
    Other,
}

/// The classes of the threads of one pass.
#[derive(Debug)]
pub(crate) struct ThreadClasses {
    main_tid: Option<u64>,
    state: FxHashMap<u64, State>,
    by_shape: FxHashMap<String, u32>,
    groups: Vec<PassThreadGroup>,
    /// The last thread looked up and its class, when it has one: consecutive allocations
    /// come from one thread, so most lookups skip the map.
    cached: Option<(u64, u32)>,
}

impl ThreadClasses {
    pub(crate) fn new(main_tid: Option<u64>) -> ThreadClasses {
        let group = |kind| PassThreadGroup { pattern: None, kind, threads: 0, first_tid: u64::MAX };
        ThreadClasses {
            main_tid,
            state: FxHashMap::default(),
            by_shape: FxHashMap::default(),
            groups: vec![
                group(PassGroupKind::Main),
                group(PassGroupKind::Unnamed),
                group(PassGroupKind::Other),
            ],
            cached: None,
        }
    }

    /// The class of an allocation of `tid`, or [`PENDING`] when the thread is not named yet.
    #[inline]
    pub(crate) fn class_of_allocation(&mut self, tid: u64) -> u32 {
        if let Some((t, class)) = self.cached {
            if t == tid {
                return class;
            }
        }
        if Some(tid) == self.main_tid {
            if self.groups[MAIN as usize].threads == 0 {
                self.join(tid, MAIN);
            }
            self.cached = Some((tid, MAIN));
            return MAIN;
        }
        let state = self.state.entry(tid).or_insert(State::Pending(0));
        match *state {
            State::Class(class) => {
                self.cached = Some((tid, class));
                class
            }
            State::Pending(n) if n >= PENDING_ALLOCATIONS => {
                self.join(tid, UNNAMED);
                UNNAMED
            }
            State::Pending(n) => {
                *state = State::Pending(n + 1);
                PENDING
            }
        }
    }

    /// A THREAD_RECORD: `tid` is called `name` from here on.
    pub(crate) fn named(&mut self, tid: u64, name: &str) {
        if Some(tid) == self.main_tid {
            return;
        }
        let shape = thread_name_shape(name);
        let class = match self.by_shape.get(&shape) {
            Some(&class) => class,
            None if self.by_shape.len() < MAX_SHAPES => {
                let class = self.groups.len() as u32;
                self.groups.push(PassThreadGroup {
                    pattern: Some(shape.clone()),
                    kind: PassGroupKind::Named,
                    threads: 0,
                    first_tid: u64::MAX,
                });
                self.by_shape.insert(shape, class);
                class
            }
            None => OTHER,
        };
        self.join(tid, class);
    }

    /// Puts `tid` in `class` (counting it once per class it joins).
    fn join(&mut self, tid: u64, class: u32) {
        let before = self.state.insert(tid, State::Class(class));
        if !matches!(before, Some(State::Class(c)) if c == class) {
            let group = &mut self.groups[class as usize];
            group.threads += 1;
            group.first_tid = group.first_tid.min(tid);
        }
        self.cached = Some((tid, class));
    }

    /// The final class of a thread, for the sites it made while pending: unnamed when it never
    /// got a name.
    pub(crate) fn final_class(&mut self, tid: u64) -> u32 {
        match self.state.get(&tid).copied() {
            Some(State::Class(class)) => class,
            _ => {
                self.join(tid, UNNAMED);
                UNNAMED
            }
        }
    }

    /// The groups, indexed by class; a group no thread joined has `threads == 0`.
    pub(crate) fn into_groups(self) -> Vec<PassThreadGroup> {
        self.groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_is_pending_until_named_then_joins_its_shape() {
        let mut c = ThreadClasses::new(Some(1));
        assert_eq!(c.class_of_allocation(1), MAIN);
        assert_eq!(c.class_of_allocation(2), PENDING);
        assert_eq!(c.class_of_allocation(2), PENDING);
        c.named(2, "Thread-1 (worker)");
        c.named(3, "Thread-2 (worker)");
        let class = c.class_of_allocation(2);
        assert!(class > OTHER);
        assert_eq!(c.class_of_allocation(3), class);
        c.named(1, "MainThread");
        assert_eq!(c.class_of_allocation(1), MAIN);
        let groups = c.into_groups();
        assert_eq!(groups[class as usize].pattern.as_deref(), Some("Thread-N (worker)"));
        assert_eq!((groups[class as usize].threads, groups[class as usize].first_tid), (2, 2));
        assert_eq!(groups[MAIN as usize].threads, 1);
    }

    #[test]
    fn a_thread_never_named_stops_being_pending() {
        let mut c = ThreadClasses::new(None);
        for _ in 0..PENDING_ALLOCATIONS {
            assert_eq!(c.class_of_allocation(7), PENDING);
        }
        assert_eq!(c.class_of_allocation(7), UNNAMED);
        assert_eq!(c.class_of_allocation(8), PENDING);
        assert_eq!(c.final_class(8), UNNAMED);
        assert_eq!(c.final_class(8), UNNAMED);
        let groups = c.into_groups();
        assert_eq!((groups[UNNAMED as usize].threads, groups[UNNAMED as usize].first_tid), (2, 7));
    }

    #[test]
    fn shapes_past_the_limit_share_one_class() {
        let mut c = ThreadClasses::new(None);
        for i in 0..MAX_SHAPES as u64 + 10 {
            // Letters, not digits: every name its own shape.
            let name: String = (0..=i).map(|_| 'a').collect();
            c.named(100 + i, &name);
        }
        assert_eq!(c.class_of_allocation(100 + MAX_SHAPES as u64 + 3), OTHER);
        let groups = c.into_groups();
        assert_eq!(groups.len(), 3 + MAX_SHAPES);
        assert_eq!(groups[OTHER as usize].threads, 10);
    }
}
