//! The group splitter: claims a waiting task group and cuts its source into tasks by object
//! count and bytes, each task owning a key range of the listing — no row per object. Tasks
//! wait for workers as soon as they exist. A stopped or interrupted split continues from its
//! checkpoint (the last key given to a task).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use oms_core::error::FailureCode;
use oms_core::model::FailureReason;
use oms_core::spec::TaskKind;
use oms_core::status::{GroupEvent, GroupStatus};
use oms_db::{Db, GroupLease, GroupSplit, NewGroupTask};
use oms_storage::connect::Sides;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::WorkerConfig;
use crate::control::{Activity, TaskFailure, activity_failure, check_buckets};
use crate::keeper::{Renewal, keep_lease};
use crate::lister::Halt;
use crate::listfile::{LineReader, check_list_file};
use crate::pages::{KeyRange, ListingError, Pages};
use crate::plan::{self, Entry};

/// Splits the group held by `lease`.
pub(crate) async fn split_group(
    db: Db,
    config: Arc<WorkerConfig>,
    lease: GroupLease,
    shutdown: CancellationToken,
) {
    let span = tracing::info_span!("group", group.id = %lease.group_id, worker = %config.worker_id);
    async move {
        let split = match db.load_group_split(&lease).await {
            Ok(split) => split,
            Err(e) => {
                tracing::warn!(error = %e, "cannot load the claimed group");
                return;
            }
        };
        let stop = shutdown.child_token();
        let lost = Arc::new(AtomicBool::new(false));
        // The keeper notices a stop (status pausing) and a lost lease.
        let follow = {
            let (stop, lost) = (stop.clone(), lost.clone());
            move |renewal| match renewal {
                Renewal::Held(GroupStatus::Pausing) => stop.cancel(),
                Renewal::Held(_) => {}
                Renewal::Lost => {
                    lost.store(true, Ordering::SeqCst);
                    stop.cancel();
                }
            }
        };
        let keeper = tokio::spawn(keep_lease(
            db.clone(),
            config.clone(),
            lease.clone(),
            "group",
            Db::renew_group_lease,
            follow,
        ));
        let outcome = cut(&db, &config, &lease, &split, &stop).await;
        keeper.abort();
        if lost.load(Ordering::SeqCst) {
            return;
        }
        let finished = match outcome {
            Ok(true) => {
                db.finish_split(&lease, Some(GroupEvent::SplitDone), None)
                    .await
            }
            Ok(false) => db.finish_split(&lease, None, None).await,
            Err(failure) => {
                let reason = FailureReason {
                    code: failure.code.as_str().to_owned(),
                    message: failure.message,
                };
                db.finish_split(&lease, Some(GroupEvent::SplitFailed), Some(&reason))
                    .await
            }
        };
        match finished {
            Ok(status) => tracing::info!(status = status.code(), "group split ended"),
            Err(e) => tracing::warn!(error = %e, "cannot record the end of the split"),
        }
    }
    .instrument(span)
    .await;
}

/// Cuts the group into tasks; `Ok(false)` when it was stopped before the end.
async fn cut(
    db: &Db,
    config: &WorkerConfig,
    lease: &GroupLease,
    split: &GroupSplit,
    stop: &CancellationToken,
) -> Result<bool, TaskFailure> {
    let spec = &split.group.spec;
    let Some(credentials) = split.credentials.as_ref() else {
        return Err(TaskFailure::new(
            FailureCode::SystemError,
            "no credentials are stored for the group; start it again with its keys",
        ));
    };
    let sides = oms_storage::connect::connect(&config.connect_settings(), spec, credentials)
        .map_err(|e| TaskFailure::new(e.code, e.message))?;
    if !check_buckets(&config.retry, &sides, &spec.destination.bucket, stop).await? {
        return Ok(false);
    }

    match spec.kind {
        TaskKind::Prefix => cut_prefixes(db, config, lease, split, &sides, stop).await,
        TaskKind::List | TaskKind::UrlList => {
            cut_list_files(db, config, lease, split, &sides, stop).await
        }
        TaskKind::Object => Err(TaskFailure::new(
            FailureCode::SystemError,
            format!(
                "{} task groups are not supported by this version of the engine yet",
                spec.kind.group_str()
            ),
        )),
    }
}

/// PREFIX groups: key ranges of the source listing.
async fn cut_prefixes(
    db: &Db,
    config: &WorkerConfig,
    lease: &GroupLease,
    split: &GroupSplit,
    sides: &Sides,
    stop: &CancellationToken,
) -> Result<bool, TaskFailure> {
    let spec = &split.group.spec;
    let mut after = split.checkpoint.clone();
    let (mut objects, mut bytes) = (0_i64, 0_i64);
    let mut last: Option<String> = None;
    let emit = async |range_start: Option<String>,
                      range_end: Option<String>,
                      objects: i64,
                      bytes: i64,
                      checkpoint: String| {
        let task = NewGroupTask {
            spec: spec.clone(),
            range_start,
            range_end,
            objects,
            bytes,
            checkpoint,
        };
        db.add_group_task(lease, &task).await
    };
    for entry in plan::entries(spec) {
        let Entry::Prefix(prefix) = entry else {
            continue;
        };
        let start = plan::list_start(&prefix, after.as_deref(), None).map(str::to_owned);
        let mut pages = Pages::new(
            sides.source.clone(),
            config,
            stop.clone(),
            sides.source_bucket.clone(),
            prefix.clone(),
            KeyRange::after(start),
        );
        loop {
            if stop.is_cancelled() {
                return Ok(false);
            }
            let page = match pages.next().await {
                None => break,
                Some(Ok(page)) => page,
                Some(Err(ListingError::Cancelled)) => return Ok(false),
                Some(Err(ListingError::Failed(e))) => {
                    return Err(activity_failure(Activity::ListingSource, &e));
                }
                Some(Err(ListingError::Broken(broken))) => {
                    return Err(crate::control::broken_listing(
                        oms_storage::connect::Side::Source,
                        sides.source.as_ref(),
                        &sides.source_bucket,
                        &prefix,
                        &broken,
                    ));
                }
            };
            for object in &page.objects {
                objects += 1;
                bytes += i64::try_from(object.size).unwrap_or(i64::MAX);
                last = Some(object.key.clone());
                if objects >= config.group_task_max_objects || bytes >= config.group_task_max_bytes
                {
                    let end = object.key.clone();
                    let cut = emit(
                        after.clone(),
                        Some(end.clone()),
                        objects,
                        bytes,
                        end.clone(),
                    )
                    .await;
                    if let Err(e) = cut {
                        tracing::warn!(error = %e, "cannot create a task of the group");
                        return Ok(false);
                    }
                    after = Some(end);
                    objects = 0;
                    bytes = 0;
                }
            }
        }
    }
    if objects > 0
        && let Some(last) = last
    {
        // The last task takes the rest of the listing, including keys written after this walk.
        if let Err(e) = emit(after, None, objects, bytes, last).await {
            tracing::warn!(error = %e, "cannot create a task of the group");
            return Ok(false);
        }
    }
    Ok(true)
}

/// LIST groups: line ranges of the list files (`.txt`) in the group's folder, file by file in
/// key order. The split checkpoint is `file\nline`.
async fn cut_list_files(
    db: &Db,
    config: &WorkerConfig,
    lease: &GroupLease,
    split: &GroupSplit,
    sides: &Sides,
    stop: &CancellationToken,
) -> Result<bool, TaskFailure> {
    let spec = &split.group.spec;
    let Some(folder) = spec.source.list_file.as_ref() else {
        return Err(TaskFailure::new(
            FailureCode::ListFileUnreadable,
            "the group has no list_file folder",
        ));
    };
    let (bucket, prefix) = (folder.obs_bucket.as_str(), folder.list_file_key.as_str());
    let destination: Arc<dyn oms_storage::ReadStore> = sides.destination.clone();
    let mut files = Vec::new();
    let mut pages = Pages::new(
        destination.clone(),
        config,
        stop.clone(),
        bucket.to_owned(),
        prefix.to_owned(),
        KeyRange::default(),
    );
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(ListingError::Cancelled) => return Ok(false),
            Err(ListingError::Failed(e)) => {
                return Err(activity_failure(Activity::ReadingListFile, &e));
            }
            Err(ListingError::Broken(broken)) => {
                return Err(TaskFailure::new(
                    FailureCode::ListFileUnreadable,
                    format!(
                        "the list files under {bucket}/{prefix} cannot be listed reliably: the store {}",
                        broken.0
                    ),
                ));
            }
        };
        files.extend(
            page.objects
                .into_iter()
                .filter(|o| o.key.to_ascii_lowercase().ends_with(".txt"))
                .map(|o| o.key),
        );
    }
    if files.is_empty() {
        return Err(TaskFailure::new(
            FailureCode::ListFileUnreadable,
            format!("no .txt list files under {bucket}/{prefix}"),
        ));
    }
    let (done_file, done_line) = match split.checkpoint.as_deref().and_then(|c| c.split_once('\n'))
    {
        Some((file, line)) => (Some(file.to_owned()), line.parse::<u64>().unwrap_or(0)),
        None => (None, 0),
    };
    let halted = |halt: Halt| match halt {
        Halt::Stopped => None,
        Halt::Failed(failure) => Some(failure),
    };
    for file in files {
        if done_file.as_deref().is_some_and(|d| file.as_str() < d) {
            continue;
        }
        let mut from = if done_file.as_deref() == Some(file.as_str()) {
            done_line
        } else {
            0
        };
        let version =
            match check_list_file(destination.as_ref(), &config.retry, stop, bucket, &file).await {
                Ok(version) => version,
                Err(halt) => return halted(halt).map_or(Ok(false), Err),
            };
        let mut lines = LineReader::new(
            destination.as_ref(),
            &config.retry,
            stop,
            bucket,
            &file,
            version,
        );
        let total = loop {
            match lines.next_line().await {
                Ok(Some(_)) => {}
                Ok(None) => break lines.line_no,
                Err(halt) => return halted(halt).map_or(Ok(false), Err),
            }
        };
        let per_task = u64::try_from(config.group_task_max_objects)
            .unwrap_or(u64::MAX)
            .max(1);
        while from < total {
            if stop.is_cancelled() {
                return Ok(false);
            }
            let to = (from + per_task).min(total);
            let mut task_spec = spec.clone();
            if let Some(list_file) = task_spec.source.list_file.as_mut() {
                list_file.list_file_key.clone_from(&file);
            }
            let task = NewGroupTask {
                spec: task_spec,
                range_start: Some(from.to_string()),
                range_end: Some(to.to_string()),
                objects: i64::try_from(to - from).unwrap_or(i64::MAX),
                bytes: 0,
                checkpoint: format!("{file}\n{to}"),
            };
            if let Err(e) = db.add_group_task(lease, &task).await {
                tracing::warn!(error = %e, "cannot create a task of the group");
                return Ok(false);
            }
            from = to;
        }
    }
    Ok(true)
}
