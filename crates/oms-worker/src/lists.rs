//! The object lists written under `oms/` at the destination, as OMS writes them: failed lists
//! (code, time, URL-encoded key, raw key, message), success and skip lists (time, key, size),
//! one line per object, tab-separated. Times are on the clocks of the destination region's
//! time zone (`worker.time_zone`, or its `[[endpoints]]` rule's), as RFC 3339 with the offset.
//! Beside them, an omsd extension: the verification manifest, one line per copied object with
//! what proved it (key, size, source entity tag, checksum and value, destination entity tag,
//! time).

use bytes::Bytes;
use jiff::tz::TimeZone;
use oms_core::error::ObjectFailureCode;
use oms_core::model::{ObjectRecord, RECORDS_PER_LIST, RecordKind, Task};
use oms_storage::{ObjectHeaders, Payload, StorageError, WriteOptions};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::copy::CopyCtx;
use crate::pipeline::RunCtx;

/// `at_ms` as RFC 3339 on the clocks of `zone` (`2026-07-01T23:30:00+08:00`), "" when out of
/// range.
fn rfc3339(at_ms: i64, zone: &TimeZone) -> String {
    jiff::Timestamp::from_millisecond(at_ms)
        .map(|t| {
            t.to_zoned_datetime(zone.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        })
        .unwrap_or_default()
}

/// One line of a failed list.
pub(crate) fn failed_line(
    code: &str,
    at_ms: i64,
    zone: &TimeZone,
    key: &str,
    message: &str,
) -> String {
    let message = message.replace(['\t', '\n', '\r'], " ");
    let encoded = utf8_percent_encode(key, NON_ALPHANUMERIC);
    format!(
        "{code}\t{}\t{encoded}\t{key}\t{message}\n",
        rfc3339(at_ms, zone)
    )
}

/// Times on the clocks of one zone, formatted once per second: the lines of a list mostly
/// share their second, and a zoned time's formatting is most of what a line costs (a
/// re-check writes tens of thousands of skip lines as its task ends).
pub(crate) struct Clock<'a> {
    zone: &'a TimeZone,
    second: Option<i64>,
    text: String,
}

impl<'a> Clock<'a> {
    pub(crate) fn new(zone: &'a TimeZone) -> Self {
        Self {
            zone,
            second: None,
            text: String::new(),
        }
    }

    /// `at_ms` as [`rfc3339`] (which has no fraction of a second).
    pub(crate) fn rfc3339(&mut self, at_ms: i64) -> &str {
        let second = at_ms.div_euclid(1000);
        if self.second != Some(second) {
            self.text = rfc3339(at_ms, self.zone);
            self.second = Some(second);
        }
        &self.text
    }
}

/// Appends one line of a success or skip list to `text`: time, key, size.
pub(crate) fn push_record_line(
    text: &mut String,
    clock: &mut Clock<'_>,
    at_ms: i64,
    key: &str,
    size: u64,
) {
    use std::fmt::Write as _;
    text.push_str(clock.rfc3339(at_ms));
    // Writing to a String cannot fail.
    let _ = writeln!(text, "\t{key}\t{size}");
}

/// One line of a success or skip list: time, key, size.
pub(crate) fn record_line(at_ms: i64, zone: &TimeZone, key: &str, size: u64) -> String {
    let mut line = String::new();
    push_record_line(&mut line, &mut Clock::new(zone), at_ms, key, size);
    line
}

/// The time stamp in a list's name: `YYYYMMDDhhmmssSSS` on the clocks of `zone`, now (to the
/// millisecond: two runs of a task may end within a second, and each keeps its lists).
pub(crate) fn stamp(zone: &TimeZone) -> String {
    jiff::Timestamp::now()
        .to_zoned_datetime(zone.clone())
        .strftime("%Y%m%d%H%M%S%3f")
        .to_string()
}

/// Where a task's list of `word` (`failed`, `success`, `skip`) stamped `stamp` goes: under
/// `oms/task/{name}/`, or for a task of a group under `oms/task_group/{group}/…/{name}/`.
pub(crate) fn list_key(task: &Task, word: &str, stamp: &str) -> String {
    let name = &task.name;
    match task.group_id {
        Some(group) => {
            format!("oms/task_group/{group}/{word}_object_lists/{name}/{stamp}.{word}_list.txt")
        }
        None => format!("oms/task/{name}/{word}_object_lists/{stamp}.{word}_list.txt"),
    }
}

/// Where part `part` (from 1) of a task's verification manifest stamped `stamp` goes, beside
/// its lists: `oms/task/{name}/verification_manifest/{stamp}.manifest.txt`, or for a task of a
/// group `oms/task_group/{group}/verification_manifest/{name}/{stamp}.manifest.txt`; the parts
/// after the first (a manifest of more than `worker.manifest_part_objects` objects) as
/// `{stamp}.manifest.2.txt`, `{stamp}.manifest.3.txt`, ...
pub(crate) fn manifest_key(task: &Task, stamp: &str, part: usize) -> String {
    let name = &task.name;
    let file = match part {
        0 | 1 => format!("{stamp}.manifest.txt"),
        n => format!("{stamp}.manifest.{n}.txt"),
    };
    match task.group_id {
        Some(group) => format!("oms/task_group/{group}/verification_manifest/{name}/{file}"),
        None => format!("oms/task/{name}/verification_manifest/{file}"),
    }
}

/// The first line of a verification manifest: the names of its tab-separated columns.
pub(crate) const MANIFEST_HEADER: &str =
    "#key\tsize\tsource_etag\tchecksum\tchecksum_value\tdst_etag\ttime\n";

/// One line of a verification manifest: a copied object and what proved it.
pub(crate) fn manifest_line(record: &ObjectRecord, clock: &mut Clock<'_>) -> Option<String> {
    let proof = record.proof.as_ref()?;
    Some(format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
        record.key,
        record.size,
        proof.source_etag.as_deref().unwrap_or_default(),
        proof.checksum,
        proof.value,
        proof.dst_etag.as_deref().unwrap_or_default(),
        clock.rfc3339(record.at_ms)
    ))
}

/// Writes the verification manifest of a task whose listing is through (every copied object
/// recorded with its proof), beside its lists, when it names at least one object: in parts of
/// `worker.manifest_part_objects` lines (100,000 by default, about 15 MB: writing a manifest
/// never holds more in memory), each with the header. A failure is logged, not fatal: the
/// manifest is also served by the API.
async fn write_manifest(ctx: &RunCtx, zone: &TimeZone, stamp: &str) {
    let mut clock = Clock::new(zone);
    let mut text = MANIFEST_HEADER.to_owned();
    let mut in_part = 0_usize;
    let (mut lines, mut part) = (0_usize, 1_usize);
    let mut after: Option<String> = None;
    loop {
        let page = match ctx
            .db
            .list_records(
                ctx.lease.task_id,
                RecordKind::Success,
                after.as_deref(),
                RECORDS_PER_PAGE,
            )
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the objects of the verification manifest");
                return;
            }
        };
        let last = page.last().map(|r| r.key.clone());
        for line in page.iter().filter_map(|r| manifest_line(r, &mut clock)) {
            if in_part >= ctx.config.manifest_part_objects.max(1) {
                let full = std::mem::replace(&mut text, MANIFEST_HEADER.to_owned());
                if !put_manifest_part(ctx, stamp, part, full, in_part).await {
                    return;
                }
                (part, in_part) = (part + 1, 0);
            }
            text.push_str(&line);
            in_part += 1;
            lines += 1;
        }
        match last {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    if in_part > 0 && put_manifest_part(ctx, stamp, part, text, in_part).await {
        tracing::info!(
            objects = lines,
            parts = part,
            "verification manifest written"
        );
    }
}

/// Writes one part of a verification manifest; false (logged) when it cannot.
async fn put_manifest_part(
    ctx: &RunCtx,
    stamp: &str,
    part: usize,
    text: String,
    lines: usize,
) -> bool {
    let key = manifest_key(&ctx.task, stamp, part);
    match put_text(ctx, &key, text).await {
        Ok(()) => {
            tracing::debug!(key = %key, objects = lines, "verification manifest part written");
            true
        }
        Err(e) => {
            tracing::warn!(key = %key, error = %e, "cannot write the verification manifest");
            false
        }
    }
}

/// How many records a page of a list reads from the database.
const RECORDS_PER_PAGE: i64 = 5000;

/// One object of a success or skip list, as the run recorded it.
#[derive(Debug)]
struct Kept {
    key: String,
    size: i64,
    at_ms: i64,
}

/// The success and skip records of a run, kept as they are recorded for each kind that no
/// earlier run of the task recorded, in a task whose run meets each key once (an object or
/// prefix task: its selection has no overlaps and its listings no repeated keys; a list file
/// may name a key twice, and its second record would move the key to the other kind in the
/// database): its list then holds exactly this run's records, and is
/// written from them as the task ends instead of being read back from the database (a
/// re-check of tens of thousands of objects would otherwise wait for that many rows, page by
/// page). A kind that earlier runs recorded, or with more copied objects than a list takes,
/// is read from the database.
#[derive(Debug, Default)]
pub(crate) struct KeptRecords {
    success: Option<Vec<Kept>>,
    skip: Option<Vec<Kept>>,
}

impl KeptRecords {
    /// Keeps the records of the kinds `fresh` says no earlier run recorded.
    pub(crate) fn new(success_fresh: bool, skip_fresh: bool) -> Self {
        Self {
            success: success_fresh.then(Vec::new),
            skip: skip_fresh.then(Vec::new),
        }
    }

    fn of(&mut self, kind: RecordKind) -> Option<&mut Option<Vec<Kept>>> {
        match kind {
            RecordKind::Success => Some(&mut self.success),
            RecordKind::Skip => Some(&mut self.skip),
            _ => None,
        }
    }

    /// Keeps one recorded object (the skip list's cap is the recorder's: it records no more
    /// skips than a list takes).
    pub(crate) fn keep(&mut self, kind: RecordKind, key: &str, size: i64, at_ms: i64) {
        let Some(kept) = self.of(kind) else {
            return;
        };
        if let Some(records) = kept {
            if i64::try_from(records.len()).unwrap_or(i64::MAX) >= RECORDS_PER_LIST {
                // The list takes the first of them in key order: the database has them all.
                *kept = None;
                return;
            }
            records.push(Kept {
                key: key.to_owned(),
                size,
                at_ms,
            });
        }
    }

    /// The records kept of `kind`, in key order, each key once (its last record, as the
    /// database keeps it); `None` when the list is read from the database.
    fn take(&mut self, kind: RecordKind) -> Option<Vec<Kept>> {
        let mut records = self.of(kind)?.take()?;
        // Latest first, then a stable sort by key: the first of each key is its last record.
        records.reverse();
        records.sort_by(|a, b| a.key.cmp(&b.key));
        records.dedup_by(|later, first| later.key == first.key);
        Some(records)
    }
}

/// Writes the success and skip lists of a task whose listing is through, beside its failed
/// list, each when it names at least one object, and records for each whether it was written
/// (`success_record_error_reason`, `skip_record_error_reason`). A failure to write one is
/// recorded and logged, not fatal: the objects are at the destination all the same.
pub(crate) async fn write_record_lists(ctx: &RunCtx) {
    // A dry run writes nothing at the destination: its plan is in the database.
    if !ctx.spec().enable_failed_object_recording || ctx.spec().dry_run {
        return;
    }
    let zone = ctx.config.time_zone_of(&ctx.spec().destination.region);
    let stamp = stamp(&zone);
    let mut kept = ctx.take_kept_records().unwrap_or_default();
    // Side by side: across a WAN each write is a round trip or more, and the task waits for
    // them all before it ends.
    let lists = futures::future::join_all(RecordKind::ALL.into_iter().map(|kind| {
        let kept = kept.take(kind);
        write_record_list(ctx, kind, kept, &zone, &stamp)
    }));
    tokio::join!(lists, write_manifest(ctx, &zone, &stamp));
}

/// Writes the list of the objects of one kind (copied or skipped), from the run's `kept`
/// records or else from the database, when it names at least one, and records whether it was
/// written.
async fn write_record_list(
    ctx: &RunCtx,
    kind: RecordKind,
    kept: Option<Vec<Kept>>,
    zone: &TimeZone,
    stamp: &str,
) {
    let text = match kept {
        Some(records) => {
            let mut text = String::new();
            let mut clock = Clock::new(zone);
            for r in records {
                let size = u64::try_from(r.size).unwrap_or(0);
                push_record_line(&mut text, &mut clock, r.at_ms, &r.key, size);
            }
            text
        }
        None => match read_record_list(ctx, kind, zone).await {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(list = kind.word(), error = %e, "cannot read the objects of a list");
                return;
            }
        },
    };
    if text.is_empty() {
        return;
    }
    let key = list_key(&ctx.task, kind.word(), stamp);
    let error = match put_text(ctx, &key, text).await {
        Ok(()) => {
            tracing::info!(list = kind.word(), key = %key, "object list written");
            String::new()
        }
        Err(e) => {
            tracing::warn!(list = kind.word(), error = %e, "cannot write an object list");
            e.code
                .unwrap_or_else(|| ObjectFailureCode::Upload.as_str().to_owned())
        }
    };
    if let Err(e) = ctx.db.set_record_list_error(&ctx.lease, kind, &error).await {
        tracing::warn!(list = kind.word(), error = %e, "cannot record how writing an object list went");
    }
}

/// The lines of the list of one kind, read from the database's records of the task in key
/// order (at most [`RECORDS_PER_LIST`]).
async fn read_record_list(
    ctx: &RunCtx,
    kind: RecordKind,
    zone: &TimeZone,
) -> Result<String, oms_db::DbError> {
    let mut text = String::new();
    let mut clock = Clock::new(zone);
    let mut after: Option<String> = None;
    // OMS's cap (the skip list is capped as objects are recorded; the copied objects are
    // all kept, for the manifest).
    let mut room = RECORDS_PER_LIST;
    while room > 0 {
        let page = ctx
            .db
            .list_records(
                ctx.lease.task_id,
                kind,
                after.as_deref(),
                RECORDS_PER_PAGE.min(room),
            )
            .await?;
        let Some(last) = page.last().map(|r| r.key.clone()) else {
            break;
        };
        room -= i64::try_from(page.len()).unwrap_or(room);
        for r in page {
            let size = u64::try_from(r.size).unwrap_or(0);
            push_record_line(&mut text, &mut clock, r.at_ms, &r.key, size);
        }
        after = Some(last);
    }
    Ok(text)
}

/// Writes `text` as the object `key` of the destination bucket (`text/plain`).
pub(crate) async fn put_text(ctx: &CopyCtx, key: &str, text: String) -> Result<(), StorageError> {
    let bytes = Bytes::from(text);
    let size = bytes.len() as u64;
    let options = WriteOptions {
        headers: ObjectHeaders {
            content_type: Some("text/plain".into()),
            ..ObjectHeaders::default()
        },
        storage_class: None,
        tags: Vec::new(),
        kms: ctx.spec.destination.kms.clone(),
    };
    // Sent with Content-MD5: the store checks the bytes, and Object Lock buckets take it.
    let content_md5 = Some(crate::copy::integrity::md5_hex(&bytes));
    let body: oms_storage::ByteStream = Box::pin(futures::stream::once(async move { Ok(bytes) }));
    let payload = Payload {
        body,
        size,
        content_md5,
    };
    ctx.destination
        .put(ctx.dst_bucket(), key, payload, &options)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(records: &[Kept]) -> Vec<(&str, i64)> {
        records.iter().map(|r| (r.key.as_str(), r.at_ms)).collect()
    }

    #[test]
    fn kept_records_come_back_in_key_order_each_key_once_at_its_last_record() {
        let mut kept = KeptRecords::new(true, true);
        kept.keep(RecordKind::Success, "b/2", 2, 20);
        kept.keep(RecordKind::Success, "a/1", 1, 10);
        kept.keep(RecordKind::Success, "b/2", 3, 30);
        kept.keep(RecordKind::Success, "B/0", 0, 40);
        // Two records in one millisecond: the later one counts.
        kept.keep(RecordKind::Success, "B/0", 7, 40);
        kept.keep(RecordKind::Skip, "s", 5, 50);
        // Not a list's: never kept.
        kept.keep(RecordKind::PlanCopy, "p", 1, 60);
        let copied = kept.take(RecordKind::Success).unwrap();
        assert_eq!(keys(&copied), [("B/0", 40), ("a/1", 10), ("b/2", 30)]);
        assert_eq!(copied[2].size, 3);
        assert_eq!(copied[0].size, 7);
        assert_eq!(keys(&kept.take(RecordKind::Skip).unwrap()), [("s", 50)]);
        assert!(kept.take(RecordKind::PlanCopy).is_none());
        // Taken once: the list is then read from the database.
        assert!(kept.take(RecordKind::Success).is_none());
    }

    #[test]
    fn a_kind_earlier_runs_recorded_or_too_many_copies_is_read_from_the_database() {
        let mut kept = KeptRecords::new(false, true);
        kept.keep(RecordKind::Success, "a", 1, 1);
        assert!(kept.take(RecordKind::Success).is_none());
        let cap = usize::try_from(RECORDS_PER_LIST).unwrap();
        for i in 0..=cap {
            kept.keep(RecordKind::Skip, &format!("k{i:06}"), 1, 1);
        }
        assert!(kept.take(RecordKind::Skip).is_none());
        let mut kept = KeptRecords::new(true, false);
        for i in 0..cap {
            kept.keep(RecordKind::Success, &format!("k{i:06}"), 1, 1);
        }
        assert_eq!(kept.take(RecordKind::Success).unwrap().len(), cap);
    }

    #[test]
    fn a_clock_formats_each_second_once_and_never_mixes_them_up() {
        let shanghai = TimeZone::get("Asia/Shanghai").unwrap();
        let mut clock = Clock::new(&shanghai);
        let mut text = String::new();
        for (at, key) in [
            (1_782_919_800_000, "a"),
            (1_782_919_800_999, "b"),
            (1_782_919_801_000, "c"),
            (-1, "d"),
        ] {
            push_record_line(&mut text, &mut clock, at, key, 1);
        }
        assert_eq!(
            text,
            "2026-07-01T23:30:00+08:00\ta\t1\n2026-07-01T23:30:00+08:00\tb\t1\n\
             2026-07-01T23:30:01+08:00\tc\t1\n1970-01-01T07:59:59+08:00\td\t1\n"
        );
    }

    #[test]
    fn list_lines_give_their_times_on_the_clocks_of_the_zone() {
        let at = 1_782_919_800_000; // 2026-07-01T15:30:00Z
        let shanghai = TimeZone::get("Asia/Shanghai").unwrap();
        assert_eq!(
            record_line(at, &shanghai, "a b/c.txt", 12),
            "2026-07-01T23:30:00+08:00\ta b/c.txt\t12\n"
        );
        assert_eq!(
            failed_line("CODE", at, &TimeZone::UTC, "a b", "one\ttwo"),
            "CODE\t2026-07-01T15:30:00+00:00\ta%20b\ta b\tone two\n"
        );
    }
}
