-- Sync tasks fed by bucket notifications and healed by reconciliation (issue 15, item 4).
-- A sync task keeps the SHA-256 of its notification token (the token itself is shown once, at
-- creation), whether it propagates deletions (off unless asked for at creation), and, when it
-- reconciles, its interval, when the next pass is due, how far the
-- pass under way has come (the last source key compared) and when the last pass ended.
alter table sync_tasks add column notify_token_hash text;
alter table sync_tasks add column propagate_deletions integer not null default 0;
alter table sync_tasks add column reconcile_interval_secs integer;
alter table sync_tasks add column reconcile_due_at integer;
alter table sync_tasks add column reconcile_marker text;
alter table sync_tasks add column last_reconcile_time integer;

-- Backoff when a store keeps refusing the sync task's copies (a missing bucket, denied keys):
-- runs that failed in a row, and no claim before retry_at; error_code/error_msg (of 0004) say
-- why. The next recorded batch clears them.
alter table sync_tasks add column failed_runs integer not null default 0;
alter table sync_tasks add column retry_at integer;

-- 1 when the key was queued by an ObjectRemoved notification of a task that propagates
-- deletions: the worker deletes the destination object if the source, asked then, lacks it.
alter table sync_events add column removal integer not null default 0;

-- New counters in the 5-minute buckets: ObjectRemoved records received, destination objects
-- deleted by propagated removals, source objects compared by reconciliation, and keys it
-- queued because they differed.
alter table sync_statistics add column removed_num integer not null default 0;
alter table sync_statistics add column deleted_num integer not null default 0;
alter table sync_statistics add column compared_num integer not null default 0;
alter table sync_statistics add column reconciled_num integer not null default 0;
