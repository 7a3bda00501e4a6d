-- Webhook notifications (the self-hosted stand-in for SMN): an outbox written in the same
-- transaction as the status change that causes it, so that a worker killed right after a task
-- ends loses no notification; any worker delivers it (under a claim with an expiry), retries
-- with backoff, and records the outcome on the task or group (smn_info.notify_result).
create table notifications (
    id                   bigserial primary key,
    project_id           text not null,
    owner_kind           text not null,
    owner_id             text not null,
    event                text not null,
    created_at           bigint not null,
    attempts             bigint not null default 0,
    next_attempt_at      bigint not null,
    lease_owner          text,
    lease_expires_at     bigint,
    done_at              bigint,
    last_error           text
);
create index notifications_due on notifications (done_at, next_attempt_at);

-- The outcome of the last notification of a task or group: null until one was attempted.
alter table tasks add column notify_result bigint;
alter table tasks add column notify_error text;
alter table task_groups add column notify_result bigint;
alter table task_groups add column notify_error text;
