//! Archived sources (`enable_restore`): an object in an archive class (S3 `GLACIER`,
//! `DEEP_ARCHIVE`, and what the other clouds call theirs through their S3 APIs) cannot be read
//! until it is restored, which takes minutes to hours. With `enable_restore` a task's listing
//! pass asks the store to restore each such object (RestoreObject, for `worker.restore_days`
//! days, 3 as OMS, in `worker.restore_tier`) and goes on with the others without waiting ([`ask`]): the restores run side by side
//! at the store, and no copy slot waits on one. The object is recorded as awaited once the
//! checkpoint passes it; the run's restores pass then HEADs the awaited objects in rounds with
//! a growing pause and hands each on to be copied once restored (`lister::restored_objects`).
//! Sync tasks wait where they meet such an object ([`make_readable`], at most
//! [`RESTORES_POLLED_AT_ONCE`] at a time). The HEAD comes first: a restore asked for
//! before a pause, a restart or a crash (or by someone else) is found under way, not asked for
//! again. Without `enable_restore` such an object fails at once, saying so.

use std::time::{Duration, Instant};

use oms_core::error::ObjectFailureCode;
use oms_storage::Restore;

use super::error::{CopyError, at};
use super::{CopyCtx, head_source};
use crate::control::Side;
use crate::pipeline::Item;
use crate::retry::retry;

/// The first pause between two looks at a restore in progress; it doubles up to
/// [`MAX_POLL_PAUSE`].
pub(crate) const FIRST_POLL_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause between two looks: archive tiers take minutes to hours.
pub(crate) const MAX_POLL_PAUSE: Duration = Duration::from_secs(300);
/// Objects whose restore is polled at once per run: the rest wait their turn, so that a bucket
/// of archived objects costs a few HEADs at a time, not one per object being copied.
pub(crate) const RESTORES_POLLED_AT_ONCE: usize = 8;

/// Whether `item` is archived as listed (or as a HEAD found it).
pub(crate) fn archived(item: &Item) -> Option<&str> {
    item.storage_class
        .as_deref()
        .filter(|c| oms_core::spec::is_archive_class(c))
}

/// Fails `item` (archived, of `class`) when the task does not restore.
fn refuse_unless_restoring(ctx: &CopyCtx, item: &Item, class: &str) -> Result<(), CopyError> {
    if ctx.spec.enable_restore {
        return Ok(());
    }
    Err(CopyError::Object {
        code: ObjectFailureCode::SourceRead,
        message: format!(
            "source: {} is archived (storage class {class}) and cannot be read until it is \
             restored; create the task with enable_restore: true to have it restored first",
            item.key
        ),
    })
}

/// Where the restore of an archived object stands.
enum Standing {
    /// Readable: restored, or no longer archived.
    Readable,
    /// Its restore is under way.
    Restoring,
    /// No restore was asked for.
    NotAsked,
}

/// Looks at the restore of `item` (a HEAD of the source).
async fn look(ctx: &CopyCtx, item: &Item) -> Result<Standing, CopyError> {
    let Some(meta) = head_source(ctx, item).await? else {
        return Err(CopyError::Object {
            code: ObjectFailureCode::SourceMetadata,
            message: format!("source: the object {} disappeared", item.key),
        });
    };
    let still_archived = meta
        .info
        .storage_class
        .as_deref()
        .is_some_and(oms_core::spec::is_archive_class);
    Ok(match meta.restore {
        Some(Restore::Done) => Standing::Readable,
        _ if !still_archived => Standing::Readable,
        Some(Restore::InProgress) => Standing::Restoring,
        None => Standing::NotAsked,
    })
}

/// Asks the source to restore `item` (RestoreObject, as `worker.restore_days` and
/// `worker.restore_tier` say).
async fn ask_restore(ctx: &CopyCtx, item: &Item, class: &str) -> Result<(), CopyError> {
    tracing::info!(key = %item.key, class, "asking for the restore of an archived object");
    retry(&ctx.config.retry, &ctx.stop.hard, || async {
        ctx.source
            .restore(&ctx.source_bucket, &item.key, ctx.config.restore)
            .await
            .map_err(at(Side::Source))
    })
    .await
    .map_err(|e| CopyError::gave_up(ObjectFailureCode::SourceRead, e))
}

/// Sees to the restore of the archived `item` (of `class`) without waiting for it: fails it
/// when the task does not restore; else asks for a restore when none is under way. True when
/// the object can be read now (restored before, or at once), false while its restore runs: the
/// run goes on with other objects and copies it in its restores pass.
pub(crate) async fn ask(ctx: &CopyCtx, item: &Item, class: &str) -> Result<bool, CopyError> {
    refuse_unless_restoring(ctx, item, class)?;
    match look(ctx, item).await? {
        Standing::Readable => return Ok(true),
        Standing::Restoring => return Ok(false),
        Standing::NotAsked => ask_restore(ctx, item, class).await?,
    }
    // Some stores restore at once.
    Ok(matches!(look(ctx, item).await?, Standing::Readable))
}

/// Makes the archived `item` (of `class`) readable: fails it when the task does not restore,
/// else asks for a restore when none is under way and waits until it is done (or the run stops,
/// or [`crate::WorkerConfig::restore_wait`] passes), at most [`RESTORES_POLLED_AT_ONCE`]
/// objects at a time.
pub(crate) async fn make_readable(
    ctx: &CopyCtx,
    item: &Item,
    class: &str,
) -> Result<(), CopyError> {
    refuse_unless_restoring(ctx, item, class)?;
    let _turn = ctx
        .restores
        .acquire()
        .await
        .map_err(|_| CopyError::Interrupted)?;
    let started = Instant::now();
    let mut pause = FIRST_POLL_PAUSE;
    let mut asked = false;
    loop {
        match look(ctx, item).await? {
            Standing::Readable => return Ok(()),
            Standing::Restoring => {}
            Standing::NotAsked if !asked => {
                ask_restore(ctx, item, class).await?;
                asked = true;
                // Some stores restore at once: look again without waiting.
                continue;
            }
            Standing::NotAsked => {}
        }
        if started.elapsed() >= ctx.config.restore_wait {
            return Err(CopyError::Object {
                code: ObjectFailureCode::SourceRead,
                message: format!(
                    "source: the restore of the archived object {} did not finish within {} s \
                     (worker.restore_wait_secs); start the task again to keep waiting for it",
                    item.key,
                    ctx.config.restore_wait.as_secs()
                ),
            });
        }
        tokio::select! {
            () = ctx.stop.intake.cancelled() => return Err(CopyError::Interrupted),
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(MAX_POLL_PAUSE);
    }
}
