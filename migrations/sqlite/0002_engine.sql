-- The engine's state: checkpoints, failed objects, and multipart uploads in progress.

-- JSON of the counters that hold at the checkpoint, so that a resumed run restarts from exact
-- counts even when objects beyond the checkpoint had finished before a crash.
alter table tasks add column checkpoint_state text;

create table object_failures (
    task_id              integer not null references tasks (id) on delete cascade,
    object_key           text not null,
    size                 integer not null,
    error_code           text not null,
    error_msg            text not null,
    failed_time          integer not null,
    primary key (task_id, object_key)
);

-- A multipart upload started for an object; parts already uploaded are in multipart_parts.
create table multipart_uploads (
    task_id              integer not null references tasks (id) on delete cascade,
    object_key           text not null,
    dst_bucket           text not null,
    dst_key              text not null,
    upload_id            text not null,
    part_size            integer not null,
    object_size          integer not null,
    source_mtime         integer not null,
    source_etag          text,
    created_time         integer not null,
    primary key (task_id, object_key)
);

create table multipart_parts (
    task_id              integer not null,
    object_key           text not null,
    part_number          integer not null,
    etag                 text not null,
    primary key (task_id, object_key, part_number),
    foreign key (task_id, object_key) references multipart_uploads (task_id, object_key) on delete cascade
);

-- Uploads of deleted tasks, to abort once credentials for their destination are at hand.
create table orphan_uploads (
    project_id           text not null,
    dst_bucket           text not null,
    dst_key              text not null,
    upload_id            text not null,
    created_time         integer not null,
    primary key (dst_bucket, dst_key, upload_id)
);
create index orphan_uploads_by_destination on orphan_uploads (project_id, dst_bucket);
