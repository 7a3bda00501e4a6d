-- The group splitter's progress: the last source key (or list file and line) assigned to a task,
-- so that a paused or interrupted split continues where it stopped.
alter table task_groups add column split_checkpoint text;
-- How many tasks the splitter created (names them in order).
alter table task_groups add column split_tasks bigint not null default 0;
