-- A dry run's plan (an omsd extension), counted: objects and bytes a run would copy (kind 2),
-- overwrite (kind 3) and skip (kind 1), added as the checkpoint passes them. object_records then
-- keeps only the first keys of each kind, not a row per object.
create table task_plans (
    task_id              bigint not null references tasks (id) on delete cascade,
    kind                 bigint not null,
    num                  bigint not null,
    size                 bigint not null,
    primary key (task_id, kind)
);
