-- Why a task's failed-object list could not be written at the destination (the store's error
-- code, or the per-object code of an upload failure): shown as failed_object_record.error_code,
-- and the list is then not reported as written. '' when it was written, or none was due.
alter table tasks add column failed_list_error text not null default '';

-- Claims share the workers between projects (the project running the fewest tasks first, and
-- at most worker.max_running_tasks_per_project each), and creates count a project's active
-- tasks: both count a project's tasks by status.
create index tasks_by_project_status on tasks (project_id, status);
