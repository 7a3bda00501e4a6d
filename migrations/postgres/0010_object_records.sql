-- The objects a task copied (kind 0) or skipped (kind 1), with their size and when: the success
-- and skip lists written at the destination when the task's listing is through come from here.
-- One row per object, its latest outcome (a failed object copied by a retransmission moves to
-- the copied ones); at most 100,000 of each kind per task, as OMS caps its lists. Only tasks
-- that record (enable_failed_object_recording) write rows.
create table object_records (
    task_id              bigint not null references tasks (id) on delete cascade,
    object_key           text not null,
    kind                 bigint not null,
    size                 bigint not null,
    record_time          bigint not null,
    primary key (task_id, object_key)
);
-- Writing a list reads one kind of one task in key order; the cap counts one kind.
create index object_records_by_kind on object_records (task_id, kind, object_key);

-- Why the success or skip list could not be written at the destination (the store's error
-- code): shown as success_record_error_reason and skip_record_error_reason; '' when it was
-- written, or none was due.
alter table tasks add column success_list_error text not null default '';
alter table tasks add column skip_list_error text not null default '';
