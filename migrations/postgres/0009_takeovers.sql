-- The worker that held a row when another one claimed it after its lease expired ('' when the
-- row was free): set by the claim and returned by it, so that the takeover is logged once with
-- the name of the worker that stopped.
alter table tasks add column taken_over_from text not null default '';
alter table task_groups add column taken_over_from text not null default '';
alter table sync_tasks add column taken_over_from text not null default '';
