-- Sync tasks (PostgreSQL dialect): a destination kept in step with a live source. Events (changed keys) wait in
-- sync_events, one row per key (a key posted again while it waits bumps its version); counters
-- are kept per task in 5-minute buckets, one row per task per bucket.

create table sync_tasks (
    sync_task_id         text primary key,
    project_id           text not null,
    -- the hidden task (group_type SYNC_TASK) that the copies run as: its saved multipart
    -- uploads and its lease (mirrored from this row's) fence the transfer code
    task_id              bigint not null references tasks (id),
    status               bigint not null,
    spec                 text not null,
    error_code           text,
    error_msg            text,
    start_time           bigint not null default 0,
    last_start_time      bigint not null,
    create_time          bigint not null,
    updated_time         bigint not null,
    status_time          bigint not null,
    lease_owner          text,
    lease_epoch          bigint not null default 0,
    lease_expires_at     bigint
);
create index sync_tasks_by_project on sync_tasks (project_id, create_time);

create table sync_events (
    sync_task_id         text not null references sync_tasks (sync_task_id) on delete cascade,
    object_key           text not null,
    -- bumped when the key is posted again while it waits: a copy started before the repost
    -- does not take the event off the queue
    version              bigint not null default 1,
    received_time        bigint not null,
    primary key (sync_task_id, object_key)
);
create index sync_events_by_age on sync_events (sync_task_id, received_time);

create table sync_statistics (
    sync_task_id         text not null references sync_tasks (sync_task_id) on delete cascade,
    -- the start of the 5-minute bucket, Unix ms
    bucket_time          bigint not null,
    request_num          bigint not null default 0,
    success_num          bigint not null default 0,
    failure_num          bigint not null default 0,
    skip_num             bigint not null default 0,
    size                 bigint not null default 0,
    primary key (sync_task_id, bucket_time)
);
