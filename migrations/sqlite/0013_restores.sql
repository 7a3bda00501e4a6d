-- Archived source objects (`enable_restore`) whose restore was asked for: a run does not wait
-- for them where it finds them, it goes on with the rest and copies them once their restores
-- are done, in a pass of its own after the listing. A row is written when the checkpoint
-- passes the object (in the transaction that moves it) and deleted when the object is copied
-- or fails, so a pause, a restart or a crash finds the restores still under way here.
create table object_restores (
    task_id              integer not null references tasks (id) on delete cascade,
    object_key           text not null,
    size                 integer not null,
    requested_time       integer not null,
    primary key (task_id, object_key)
);
