-- A dry run's plan (an omsd extension), counted: objects and bytes a run would copy (kind 2),
-- overwrite (kind 3) and skip (kind 1), added as the checkpoint passes them. object_records then
-- keeps only the first keys of each kind, not a row per object.
create table task_plans (
    task_id              integer not null references tasks (id) on delete cascade,
    kind                 integer not null,
    num                  integer not null,
    size                 integer not null,
    primary key (task_id, kind)
);
