//! `omsctl task ...`: migration tasks.

use serde_json::Value;

use super::{
    CreateArgs, Ctx, PageArgs, WatchArgs, after, confirm_done, set_bandwidth, watch_until_end,
};
use crate::client::query;
use crate::create::{BandwidthWindow, Target};
use crate::error::CtlError;
use crate::keys::{KeyArgs, KeyNeeds};
use crate::output::{self, int, text};
use crate::plan;
use crate::watch::Subject;

/// Tasks: one migration each.
#[derive(Debug, clap::Subcommand)]
pub enum TaskCommand {
    /// Create a task (it starts at once).
    #[command(
        after_help = "Example:\n  OMSCTL_SRC_SK=... OMSCTL_DST_SK=... omsctl task create --src-cloud AWS \\\n    --src-region eu-west-1 --src-bucket photos --prefix 2024/ --src-ak AKIA... \\\n    --dst-region cn-north-4 --dst-bucket backup --dst-ak HPUA... --watch"
    )]
    Create(CreateArgs),
    /// List tasks, newest first.
    #[command(
        after_help = "Example:\n  omsctl task list --status 2 --output json | jq '.tasks[].id'"
    )]
    List {
        /// Only tasks in this status (1 waiting, 2 running, 3 paused, 4 failed, 5 completed,
        /// 6 retrying, 7 pausing).
        #[arg(long)]
        status: Option<i64>,
        /// Only the tasks of this task group.
        #[arg(long, value_name = "GROUP_ID")]
        group: Option<String>,
        /// Only tasks whose name contains this.
        #[arg(long)]
        name: Option<String>,
        /// Which page.
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a task: status, counters, speed, the failure reason.
    #[command(after_help = "Example:\n  omsctl task show 191297407830872")]
    Show {
        /// The task id.
        id: i64,
    },
    /// Follow a task until it ends: live bars at a terminal, plain lines otherwise.
    #[command(after_help = "Example:\n  omsctl task watch 191297407830872 && echo copied")]
    Watch {
        /// The task id.
        id: i64,
        /// Seconds between looks.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
    },
    /// Pause a running task.
    #[command(after_help = "Example:\n  omsctl task stop 191297407830872")]
    Stop {
        /// The task id.
        id: i64,
    },
    /// Resume a paused task, or run a failed one again (the keys are needed again).
    #[command(
        visible_alias = "resume",
        after_help = "Example:\n  OMSCTL_SRC_SK=... OMSCTL_DST_SK=... omsctl task start 191297407830872 --src-ak AKIA... --dst-ak HPUA... --watch"
    )]
    Start {
        /// The task id.
        id: i64,
        /// The keys.
        #[command(flatten)]
        keys: KeyArgs,
        /// Copy only the objects that failed.
        #[arg(long)]
        failed_only: bool,
        /// Follow the task once started.
        #[command(flatten)]
        follow: WatchArgs,
    },
    /// Copy again the objects of a task that failed (start with migrate_failed_object).
    #[command(
        after_help = "Example:\n  omsctl task retry 191297407830872 --keys-file ~/.oms-keys.toml --watch"
    )]
    Retry {
        /// The task id.
        id: i64,
        /// The keys.
        #[command(flatten)]
        keys: KeyArgs,
        /// Follow the task once started.
        #[command(flatten)]
        follow: WatchArgs,
    },
    /// Delete a task that is not running.
    #[command(after_help = "Example:\n  omsctl task delete 191297407830872")]
    Delete {
        /// The task id.
        id: i64,
    },
    /// Replace a task's bandwidth windows (none: no limit).
    #[command(
        after_help = "Example:\n  omsctl task bandwidth 191297407830872 --window 08:00-20:00=10M --window 20:00-08:00=100M"
    )]
    Bandwidth {
        /// The task id.
        id: i64,
        /// A window HH:MM-HH:MM=RATE (repeatable; none removes the limit).
        #[arg(long = "window", value_name = "WINDOW")]
        windows: Vec<BandwidthWindow>,
    },
    /// The plan of a dry run (`task create --dry-run`): what a run would copy, overwrite
    /// and skip, and how long it would take.
    #[command(after_help = "Example:\n  omsctl task plan 191297407830872")]
    Plan {
        /// The task id.
        id: i64,
    },
    /// The verification manifest of a task: each copied object with the checksum that
    /// proved it and the destination's entity tag.
    #[command(
        after_help = "Example:\n  omsctl task manifest 191297407830872 --limit 100 --output json | jq '.objects[].key'"
    )]
    Manifest {
        /// The task id.
        id: i64,
        /// Which page (at most 1000 objects).
        #[command(flatten)]
        page: PageArgs,
    },
    /// The objects of a task that failed, with their code and reason.
    #[command(after_help = "Example:\n  omsctl task failed 191297407830872 --limit 20")]
    Failed {
        /// The task id.
        id: i64,
        /// Which page.
        #[command(flatten)]
        page: PageArgs,
    },
}

/// `cloud region/bucket` of a node.
pub(crate) fn place(node: &Value) -> String {
    let cloud = text(node, "cloud_type");
    let at = format!("{}/{}", text(node, "region"), text(node, "bucket"));
    if cloud.is_empty() {
        at
    } else {
        format!("{cloud} {at}")
    }
}

fn task_row(task: &Value) -> Vec<String> {
    vec![
        int(task, "id").to_string(),
        output::task_status(int(task, "status")),
        text(task, "task_type").to_owned(),
        place(&task["src_node"]),
        place(&task["dst_node"]),
        format!(
            "{}/{}{}",
            int(task, "successful_num") + int(task, "skipped_num"),
            int(task, "total_num"),
            match int(task, "failed_num") {
                0 => String::new(),
                n => format!(" ({n} failed)"),
            }
        ),
        format!(
            "{}/{}",
            output::bytes(int(task, "complete_size")),
            output::bytes(int(task, "total_size"))
        ),
        output::rate(int(task, "migrate_speed")),
    ]
}

/// The table of `tasks`.
pub(crate) fn task_table(tasks: &[Value]) -> String {
    output::table(
        &[
            "ID",
            "STATUS",
            "TYPE",
            "SOURCE",
            "DESTINATION",
            "OBJECTS",
            "BYTES",
            "SPEED",
        ],
        &tasks.iter().map(task_row).collect::<Vec<_>>(),
    )
}

fn task_details(task: &Value) -> String {
    let mut pairs = vec![
        (
            "task",
            format!("{} ({})", int(task, "id"), text(task, "name")),
        ),
        ("status", output::task_status(int(task, "status"))),
        ("type", text(task, "task_type").to_owned()),
        ("source", place(&task["src_node"])),
        ("destination", place(&task["dst_node"])),
        (
            "objects",
            format!(
                "{} total, {} copied, {} skipped, {} failed",
                int(task, "total_num"),
                int(task, "successful_num"),
                int(task, "skipped_num"),
                int(task, "failed_num")
            ),
        ),
        (
            "bytes",
            format!(
                "{} of {} ({:.1} %)",
                output::bytes(int(task, "complete_size")),
                output::bytes(int(task, "total_size")),
                task["progress"].as_f64().unwrap_or(0.0) * 100.0
            ),
        ),
        ("speed", output::rate(int(task, "migrate_speed"))),
        ("time left", output::duration_ms(int(task, "left_time"))),
        ("started", output::time_ms(int(task, "start_time"))),
        ("elapsed", output::duration_ms(int(task, "total_time"))),
        ("overwrite", text(task, "object_overwrite_mode").to_owned()),
    ];
    for window in task["bandwidth_policy"].as_array().into_iter().flatten() {
        pairs.push((
            "bandwidth",
            format!(
                "{}-{} at most {}",
                text(window, "start"),
                text(window, "end"),
                output::rate(int(window, "max_bandwidth"))
            ),
        ));
    }
    if let Some(group) = task["group_id"].as_str() {
        pairs.push(("group", group.to_owned()));
    }
    if let Some(reason) = output::failure_reason(task) {
        pairs.push(("failure", reason));
    }
    output::fields(&pairs)
}

/// The keys a start of `task` needs, from what the task shows of its source.
async fn needs_of(ctx: &Ctx, id: i64) -> Result<KeyNeeds, CtlError> {
    let task = ctx.api.get(&format!("tasks/{id}")).await?;
    Ok(KeyNeeds::migration(
        text(&task["src_node"], "cloud_type"),
        task["source_cdn"]["authentication_type"].as_str(),
    ))
}

async fn start(
    ctx: &Ctx,
    id: i64,
    keys: &KeyArgs,
    failed_only: bool,
    follow: &WatchArgs,
) -> Result<(), CtlError> {
    let gathered = keys.gather(needs_of(ctx, id).await?)?;
    let mut body = gathered.start_body();
    if failed_only {
        body.insert("migrate_failed_object".into(), Value::Bool(true));
    }
    ctx.api
        .post(&format!("tasks/{id}/start"), Some(&Value::Object(body)))
        .await?;
    after(
        ctx,
        follow,
        Subject::Task(id),
        &format!("task {id} started"),
    )
    .await
}

/// Runs a task command.
pub async fn run(ctx: &Ctx, command: TaskCommand) -> Result<(), CtlError> {
    match command {
        TaskCommand::Create(args) => args.run(ctx, Target::Task).await,
        TaskCommand::List {
            status,
            group,
            name,
            page,
        } => {
            let page = ctx
                .api
                .get(&format!(
                    "tasks{}",
                    query(
                        &[
                            [
                                ("status", status.map(|s| s.to_string())),
                                ("group_id", group),
                                ("task_name", name),
                            ]
                            .as_slice(),
                            &page.pairs(),
                        ]
                        .concat()
                    )
                ))
                .await?;
            output::emit(ctx.format, &page, |p| {
                let tasks = p["tasks"].as_array().cloned().unwrap_or_default();
                format!(
                    "{}\n{} of {} tasks",
                    task_table(&tasks),
                    tasks.len(),
                    int(p, "count")
                )
            });
            Ok(())
        }
        TaskCommand::Show { id } => {
            let task = ctx.api.get(&format!("tasks/{id}")).await?;
            output::emit(ctx.format, &task, task_details);
            Ok(())
        }
        TaskCommand::Watch { id, interval } => {
            watch_until_end(ctx, Subject::Task(id), interval).await
        }
        TaskCommand::Stop { id } => {
            let answer = ctx.api.post(&format!("tasks/{id}/stop"), None).await?;
            confirm_done(ctx, &answer, &format!("task {id} is pausing"));
            Ok(())
        }
        TaskCommand::Start {
            id,
            keys,
            failed_only,
            follow,
        } => start(ctx, id, &keys, failed_only, &follow).await,
        TaskCommand::Retry { id, keys, follow } => start(ctx, id, &keys, true, &follow).await,
        TaskCommand::Delete { id } => {
            let answer = ctx.api.delete(&format!("tasks/{id}")).await?;
            confirm_done(ctx, &answer, &format!("task {id} deleted"));
            Ok(())
        }
        TaskCommand::Bandwidth { id, windows } => {
            let path = format!("tasks/{id}/bandwidth-policy");
            set_bandwidth(ctx, &path, &windows, &format!("task {id}")).await
        }
        TaskCommand::Plan { id } => plan::show(ctx, &Subject::Task(id)).await,
        TaskCommand::Manifest { id, page } => plan::manifest(ctx, id, page).await,
        TaskCommand::Failed { id, page } => {
            let page = ctx
                .api
                .get(&format!(
                    "tasks/{id}/failed-objects{}",
                    query(&page.pairs())
                ))
                .await?;
            output::emit(ctx.format, &page, |p| {
                let rows: Vec<Vec<String>> = p["failed_objects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| {
                        vec![
                            text(o, "key").to_owned(),
                            output::bytes(int(o, "size")),
                            text(o, "error_code").to_owned(),
                            text(o, "error_msg").to_owned(),
                        ]
                    })
                    .collect();
                format!(
                    "{}\n{} failed objects",
                    output::table(&["KEY", "SIZE", "CODE", "REASON"], &rows),
                    int(p, "count")
                )
            });
            Ok(())
        }
    }
}
