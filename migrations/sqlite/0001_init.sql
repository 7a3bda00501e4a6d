-- OMS schema, SQLite dialect. Times are Unix milliseconds; booleans are 0/1; specs are JSON text.
-- Never edit a migration once it has landed: add a new one.

create table task_groups (
    group_id             text primary key,
    project_id           text not null,
    status               integer not null,
    task_type            text not null,
    spec                 text not null,
    bandwidth_policy     text not null,
    error_code           text,
    error_msg            text,
    -- 1 once the splitter has created every task of the group
    split_done           integer not null default 0,
    create_complete_num  integer not null default 0,
    create_complete_size integer not null default 0,
    start_time           integer not null default 0,
    create_time          integer not null,
    updated_time         integer not null,
    -- when the status last changed (for the 30-day waiting limit)
    status_time          integer not null,
    lease_owner          text,
    lease_epoch          integer not null default 0,
    lease_expires_at     integer
);
create index task_groups_by_project on task_groups (project_id, create_time);
create index task_groups_by_status on task_groups (status, status_time);

create table tasks (
    id                   integer primary key,
    project_id           text not null,
    group_id             text references task_groups (group_id),
    group_type           text not null,
    name                 text not null,
    task_type            text not null,
    status               integer not null,
    priority             integer not null,
    spec                 text not null,
    bandwidth_policy     text not null,
    -- 1 when the current run retransmits only the failed objects
    failed_objects_only  integer not null default 0,
    error_code           text,
    error_msg            text,
    total_num            integer not null default 0,
    successful_num       integer not null default 0,
    failed_num           integer not null default 0,
    skipped_num          integer not null default 0,
    total_size           integer not null default 0,
    complete_size        integer not null default 0,
    real_size            integer not null default 0,
    progress             real not null default 0,
    migrate_speed        integer not null default 0,
    left_time            integer not null default 0,
    total_time           integer not null default 0,
    is_query_over        integer not null default 0,
    failed_list_key      text not null default '',
    start_time           integer not null default 0,
    -- group tasks own the source keys in [range_start, range_end) or the list lines in it
    range_start          text,
    range_end            text,
    -- everything at or below this listing position is done
    checkpoint           text,
    create_time          integer not null,
    updated_time         integer not null,
    status_time          integer not null,
    lease_owner          text,
    lease_epoch          integer not null default 0,
    lease_expires_at     integer
);
create index tasks_by_project on tasks (project_id, create_time);
create index tasks_by_group on tasks (group_id, status);
create index tasks_by_status on tasks (status, priority, create_time);

-- Credentials, sealed with AES-256-GCM under the master key; kept only while the owner needs them.
create table credentials (
    owner_kind           text not null,
    owner_id             text not null,
    nonce                blob not null,
    ciphertext           blob not null,
    created_time         integer not null,
    primary key (owner_kind, owner_id)
);
