//! What the stages of a task's pipeline share: the run context, the items that flow from the
//! lister through the checker to the transfer pool, and the events the recorder counts.
//!
//! ```text
//! lister ──items──► checker ──items──► transfer pool
//!    └──────────────────┴─────events───────┴──────► recorder
//! ```

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use oms_core::error::ObjectFailureCode;
use oms_core::model::{Proof, Task};
use oms_storage::Version;

use crate::copy::CopyCtx;
use crate::lists::KeptRecords;

/// Items between the lister and the checker: enough to keep the checker busy while the lister
/// fetches its next page (a listing page is 1,000 keys).
pub(crate) const LISTED_CAPACITY: usize = 1024;
/// Items between the checker and the transfer pool: a small multiple of the pool, so that
/// transfers never wait for a decision but little is held in memory.
pub(crate) const CHECKED_PER_TRANSFER: usize = 4;
/// Events to the recorder: it only adds numbers, so it keeps up; the bound keeps a stalled
/// database from buffering without limit.
pub(crate) const EVENTS_CAPACITY: usize = 4096;

/// How the checker finds out what the destination holds for an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// A HEAD of the destination key.
    Head,
    /// The merge-join of the destination listing of the same prefix (entry `entry`).
    Cursor {
        /// Index of the entry in the task's plan.
        entry: usize,
        /// The source prefix of that entry.
        prefix: String,
    },
}

/// A source object on its way through the pipeline.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// Order of listing (the recorder commits checkpoints in this order).
    pub seq: u64,
    /// The source key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, Unix ms.
    pub last_modified_ms: i64,
    /// The source storage class, when listed.
    pub storage_class: Option<String>,
    /// The entity tag, when the listing or HEAD told it.
    pub etag: Option<String>,
    /// How to look up the destination.
    pub lookup: Lookup,
    /// Why the source object cannot be read, when the lister already knows: the per-object
    /// code and the reason.
    pub unreadable: Option<(ObjectFailureCode, String)>,
    /// The destination name of a URL-list line (decoded); `None`: the source key.
    pub dst_name: Option<String>,
    /// The object's headers, when the lister HEADed it (a copy in parts then needs no HEAD of
    /// its own to create its upload).
    pub headers: Option<Box<oms_storage::ObjectHeaders>>,
}

/// What is escaped in the destination name of a recorded URL-list line: everything but
/// unreserved characters and `/`, so that reading the line back (which trims spaces and
/// decodes) gives the same name.
const LINE_NAME: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl Item {
    /// An item for `key` to be looked up with HEADs, before anything is known of it.
    pub(crate) fn to_head(seq: u64, key: &str) -> Self {
        Self {
            seq,
            key: key.to_owned(),
            size: 0,
            last_modified_ms: 0,
            storage_class: None,
            etag: None,
            lookup: Lookup::Head,
            unreadable: None,
            dst_name: None,
            headers: None,
        }
    }

    /// Takes what a HEAD of the source said of the object.
    pub(crate) fn learn(&mut self, meta: oms_storage::ObjectMeta) {
        let info = meta.info;
        self.size = info.size;
        self.last_modified_ms = info.last_modified_ms;
        self.storage_class = info.storage_class;
        self.etag = info.etag;
        self.headers = Some(Box::new(meta.headers));
    }

    /// The version of the source object the lister saw, which reads are pinned to.
    pub(crate) fn version(&self) -> Version {
        Version {
            size: self.size,
            etag: self.etag.clone(),
            last_modified_ms: self.last_modified_ms,
        }
    }

    /// The key recorded for the item (checkpoints aside): its source key, or for a URL-list
    /// line the line itself (`URL<TAB>name`), so that a list of failed lines is a URL list.
    pub(crate) fn record_key(&self) -> String {
        match &self.dst_name {
            Some(name) => format!(
                "{}\t{}",
                self.key,
                percent_encoding::utf8_percent_encode(name, LINE_NAME)
            ),
            None => self.key.clone(),
        }
    }
}

/// What became of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Copied; `moved_bytes` went through the worker (or were copied server-side) in this run.
    Copied {
        /// Bytes moved now (less than the size when a multipart upload resumed).
        moved_bytes: u64,
        /// The size of the version copied (another than the listed one when the source changed
        /// during the copy and the copy was started over).
        size: u64,
        /// What proved it (its line in the verification manifest).
        proof: Proof,
    },
    /// A dry run would copy it (`overwrite`: over the object at the destination).
    Planned {
        /// The destination has the object, and the overwrite mode replaces it.
        overwrite: bool,
    },
    /// Not copied: older than `migrate_since`, or already at the destination.
    Skipped,
    /// Finished by a previous run beyond its checkpoint (and counted then).
    FinishedBefore,
    /// Archived, and its restore is under way (asked for now or before): copied once restored,
    /// in the run's restores pass ([`Pass::Restored`]).
    Restoring,
    /// Failed with a per-object code.
    Failed {
        /// `GET_SRC_OBJ_META_FAILURE`, `UPLOAD_DST_OBJ_FAILURE`, ...
        code: ObjectFailureCode,
        /// What happened, in one sentence naming the side at fault.
        message: String,
    },
    /// Stopped before it finished (pause, shutdown); it will be done again.
    Interrupted,
}

/// What the recorder hears.
#[derive(Debug)]
pub(crate) enum Event {
    /// The lister found an object.
    Listed {
        /// Its listing order, which checkpoints are committed in.
        seq: u64,
        /// The checkpoint value once this item is done (its key, or its list-file line).
        position: String,
        /// The key recorded for it ([`Item::record_key`]).
        key: String,
        /// Size in bytes.
        size: u64,
        /// The size the task already counts for it, when it is listed again (a failed object
        /// retransmitted, which may have changed since).
        counted: Option<u64>,
    },
    /// An object is finished.
    Done {
        /// Its listing order, matching its `Listed` event.
        seq: u64,
        /// The source key.
        key: String,
        /// Size in bytes.
        size: u64,
        /// What became of it: copied, skipped, failed or interrupted.
        outcome: Outcome,
    },
    /// The listing is complete.
    QueryOver,
}

/// Everything a task run's stages share: what copying needs ([`CopyCtx`], which the run
/// derefs to), and the task's own state, which only the lister, the checker and the recorder
/// read.
#[derive(Debug)]
pub(crate) struct RunCtx {
    /// Stores, settings, stop, fencing lease: what copying an object needs.
    pub copy: CopyCtx,
    /// The task as claimed.
    pub task: Task,
    /// Which objects the stages go through now (a run's listing pass may be followed by its
    /// restores pass, over the same context).
    pass: AtomicU8,
    /// Everything up to this listing position was done by earlier runs.
    pub checkpoint: Option<String>,
    /// Keys after `.0` (exclusive) up to `.1` (inclusive), for group tasks.
    pub range: (Option<String>, Option<String>),
    /// Record keys of the objects a previous run finished beyond the checkpoint.
    finished_ahead: HashSet<String>,
    /// The run's success and skip records, between its passes and until its lists are
    /// written (`None` before its first pass).
    kept_records: Mutex<Option<KeptRecords>>,
}

/// Which objects a pass of a task run goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// The selection (or the list file) from the checkpoint.
    Listing,
    /// The objects that failed in the previous run (`migrate_failed_object`).
    FailedOnly,
    /// The archived objects whose restores were asked for, each copied once its restore is
    /// done: after a listing (or failed-only) pass that found such objects, or that a run
    /// before this one found.
    Restored,
}

impl Pass {
    const fn code(self) -> u8 {
        match self {
            Self::Listing => 0,
            Self::FailedOnly => 1,
            Self::Restored => 2,
        }
    }

    const fn of_code(code: u8) -> Self {
        match code {
            1 => Self::FailedOnly,
            2 => Self::Restored,
            _ => Self::Listing,
        }
    }
}

impl RunCtx {
    /// A run's context, starting with `pass`.
    pub(crate) fn new(
        copy: CopyCtx,
        task: Task,
        pass: Pass,
        checkpoint: Option<String>,
        range: (Option<String>, Option<String>),
        finished_before: HashSet<String>,
    ) -> Self {
        Self {
            copy,
            task,
            pass: AtomicU8::new(pass.code()),
            checkpoint,
            range,
            finished_ahead: finished_before,
            kept_records: Mutex::new(None),
        }
    }

    /// The success and skip records the run's passes kept so far (`None` before its first
    /// pass, or once taken).
    pub(crate) fn take_kept_records(&self) -> Option<KeptRecords> {
        self.kept_records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Hands the records a pass kept to the next pass, or to the lists.
    pub(crate) fn put_kept_records(&self, kept: KeptRecords) {
        *self
            .kept_records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(kept);
    }

    /// The pass the stages are in.
    pub(crate) fn pass(&self) -> Pass {
        Pass::of_code(self.pass.load(Ordering::Relaxed))
    }

    /// Turns to `pass` (between passes, while no stage runs).
    pub(crate) fn set_pass(&self, pass: Pass) {
        self.pass.store(pass.code(), Ordering::Relaxed);
    }

    /// Whether the previous run finished the object of `record_key` beyond its checkpoint (and
    /// counted it then): only the listing pass meets such objects again.
    pub(crate) fn finished_before(&self, record_key: &str) -> bool {
        self.pass() == Pass::Listing && self.finished_ahead.contains(record_key)
    }

    /// Whether this pass goes over objects the task counted before (failed ones, or restored
    /// ones): they are not counted in the totals again, and the checkpoint stays.
    pub(crate) fn counted_before(&self) -> bool {
        self.pass() != Pass::Listing
    }
}

impl std::ops::Deref for RunCtx {
    type Target = CopyCtx;

    fn deref(&self) -> &CopyCtx {
        &self.copy
    }
}
