//! `omsctl group ...`: task groups (a bucket or list folder cut into many tasks).

use serde_json::Value;

use super::task::{place, task_table};
use super::{
    CreateArgs, Ctx, PageArgs, WatchArgs, after, confirm_done, set_bandwidth, watch_until_end,
};
use crate::client::query;
use crate::create::{BandwidthWindow, Target};
use crate::error::CtlError;
use crate::keys::{KeyArgs, KeyNeeds};
use crate::output::{self, Format, int, text};
use crate::watch::{Subject, group_progress};

/// Task groups: large migrations, cut into tasks by omsd.
#[derive(Debug, clap::Subcommand)]
pub enum GroupCommand {
    /// Create a task group (it starts at once).
    #[command(
        after_help = "Example:\n  OMSCTL_SRC_SK=... OMSCTL_DST_SK=... omsctl group create --src-cloud AWS \\\n    --src-region eu-west-1 --src-bucket photos --src-ak AKIA... \\\n    --dst-region cn-north-4 --dst-bucket backup --dst-ak HPUA... --bandwidth 00:00-23:59=20M --watch"
    )]
    Create(CreateArgs),
    /// List task groups.
    #[command(after_help = "Example:\n  omsctl group list --status 2")]
    List {
        /// Only groups in this status (0 waiting, 1 creating tasks, 2 running, 3 paused,
        /// 4 creation failed, 5 failed, 6 completed, 7 pausing).
        #[arg(long)]
        status: Option<i64>,
        /// Which page.
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a group and its tasks.
    #[command(after_help = "Example:\n  omsctl group show 157ece42-3270-4824-a3d2-f0187a03ca01")]
    Show {
        /// The group id.
        id: String,
    },
    /// Follow a group until it ends: a bar for the group and one per task.
    #[command(after_help = "Example:\n  omsctl group watch 157ece42-3270-4824-a3d2-f0187a03ca01")]
    Watch {
        /// The group id.
        id: String,
        /// Seconds between looks.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
    },
    /// Pause a group (its tasks pause).
    #[command(after_help = "Example:\n  omsctl group stop 157ece42-3270-4824-a3d2-f0187a03ca01")]
    Stop {
        /// The group id.
        id: String,
    },
    /// Resume a paused group (the keys are needed again).
    #[command(
        visible_alias = "resume",
        after_help = "Example:\n  OMSCTL_SRC_AK=... OMSCTL_SRC_SK=... OMSCTL_DST_AK=... OMSCTL_DST_SK=... \\\n    omsctl group start 157ece42-3270-4824-a3d2-f0187a03ca01 --watch"
    )]
    Start {
        /// The group id.
        id: String,
        /// The keys.
        #[command(flatten)]
        keys: KeyArgs,
        /// Follow the group once resumed.
        #[command(flatten)]
        follow: WatchArgs,
    },
    /// Run a failed group again: everything, or only the failed objects.
    #[command(
        after_help = "Example:\n  omsctl group retry 157ece42-3270-4824-a3d2-f0187a03ca01 --failed-only --keys-file keys.toml"
    )]
    Retry {
        /// The group id.
        id: String,
        /// The keys.
        #[command(flatten)]
        keys: KeyArgs,
        /// Copy only the objects that failed.
        #[arg(long)]
        failed_only: bool,
        /// Follow the group once restarted.
        #[command(flatten)]
        follow: WatchArgs,
    },
    /// The plan of a dry run (`group create --dry-run`), over the group's tasks.
    #[command(after_help = "Example:\n  omsctl group plan 157ece42-3270-4824-a3d2-f0187a03ca01")]
    Plan {
        /// The group id.
        id: String,
    },
    /// Delete a group that is not running (and its tasks).
    #[command(after_help = "Example:\n  omsctl group delete 157ece42-3270-4824-a3d2-f0187a03ca01")]
    Delete {
        /// The group id.
        id: String,
    },
    /// The objects that failed in a group's tasks, with their task, code and reason.
    #[command(after_help = "Example:\n  omsctl group failed 157ece42-3270-4824-a3d2-f0187a03ca01")]
    Failed {
        /// The group id.
        id: String,
    },
    /// Replace the bandwidth windows of a group's tasks (none: no limit).
    #[command(
        after_help = "Example:\n  omsctl group bandwidth 157ece42-3270-4824-a3d2-f0187a03ca01 --window 00:00-23:59=50M"
    )]
    Bandwidth {
        /// The group id.
        id: String,
        /// A window HH:MM-HH:MM=RATE (repeatable; none removes the limit).
        #[arg(long = "window", value_name = "WINDOW")]
        windows: Vec<BandwidthWindow>,
    },
}

fn group_row(group: &Value) -> Vec<String> {
    vec![
        text(group, "group_id").to_owned(),
        output::group_status(int(group, "status")),
        text(group, "task_type").to_owned(),
        place(&group["src_node"]),
        place(&group["dst_node"]),
        format!(
            "{}/{}",
            int(group, "complete_task_num"),
            int(group, "total_task_num")
        ),
        format!(
            "{}/{}{}",
            int(group, "success_num") + int(group, "skip_num"),
            int(group, "total_num"),
            match int(group, "fail_num") {
                0 => String::new(),
                n => format!(" ({n} failed)"),
            }
        ),
        format!(
            "{}/{}",
            output::bytes(int(group, "complete_size")),
            output::bytes(int(group, "total_size"))
        ),
    ]
}

fn group_details(group: &Value, tasks: &[Value]) -> String {
    let mut pairs = vec![
        ("group", text(group, "group_id").to_owned()),
        ("progress", group_progress(group)),
        ("type", text(group, "task_type").to_owned()),
        ("source", place(&group["src_node"])),
        ("destination", place(&group["dst_node"])),
        ("started", output::time_ms(int(group, "start_time"))),
        ("elapsed", output::duration_ms(int(group, "total_time"))),
    ];
    for window in group["bandwidth_policy"].as_array().into_iter().flatten() {
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
    if let Some(reason) = output::failure_reason(group) {
        pairs.push(("failure", reason));
    }
    let mut shown = output::fields(&pairs);
    if !tasks.is_empty() {
        shown.push_str("\n\n");
        shown.push_str(&task_table(tasks));
    }
    shown
}

async fn needs_of(ctx: &Ctx, id: &str) -> Result<KeyNeeds, CtlError> {
    let group = ctx.api.get(&format!("taskgroups/{id}")).await?;
    Ok(KeyNeeds::migration(
        text(&group["src_node"], "cloud_type"),
        group["source_cdn"]["authentication_type"].as_str(),
    ))
}

/// How many failed objects of each task `group failed` lists.
const FAILED_PER_TASK: u32 = 100;

/// `group failed`: the failed objects of every task of the group that has some.
async fn failed_objects(ctx: &Ctx, id: &str) -> Result<(), CtlError> {
    let tasks = ctx
        .api
        .get(&format!(
            "tasks{}",
            query(&[
                ("group_id", Some(id.to_owned())),
                ("limit", Some("100".into()))
            ])
        ))
        .await?;
    let mut failed = Vec::new();
    let mut count = 0;
    for task in tasks["tasks"].as_array().into_iter().flatten() {
        if int(task, "failed_num") == 0 {
            continue;
        }
        let task_id = int(task, "id");
        let page = ctx
            .api
            .get(&format!(
                "tasks/{task_id}/failed-objects{}",
                query(&[("limit", Some(FAILED_PER_TASK.to_string()))])
            ))
            .await?;
        count += int(&page, "count");
        for object in page["failed_objects"].as_array().into_iter().flatten() {
            let mut object = object.clone();
            object["task_id"] = Value::from(task_id);
            failed.push(object);
        }
    }
    let shown = serde_json::json!({"failed_objects": failed, "count": count});
    output::emit(ctx.format, &shown, |s| {
        let rows: Vec<Vec<String>> = s["failed_objects"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                vec![
                    int(o, "task_id").to_string(),
                    text(o, "key").to_owned(),
                    output::bytes(int(o, "size")),
                    text(o, "error_code").to_owned(),
                    text(o, "error_msg").to_owned(),
                ]
            })
            .collect();
        format!(
            "{}\n{count} failed objects",
            output::table(&["TASK", "KEY", "SIZE", "CODE", "REASON"], &rows)
        )
    });
    Ok(())
}

/// Runs a group command.
pub async fn run(ctx: &Ctx, command: GroupCommand) -> Result<(), CtlError> {
    match command {
        GroupCommand::Create(args) => args.run(ctx, Target::Group).await,
        GroupCommand::List { status, page } => {
            let page = ctx
                .api
                .get(&format!(
                    "taskgroups{}",
                    query(
                        &[
                            [("status", status.map(|s| s.to_string()))].as_slice(),
                            &page.pairs(),
                        ]
                        .concat()
                    )
                ))
                .await?;
            output::emit(ctx.format, &page, |p| {
                let rows: Vec<Vec<String>> = p["taskgroups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(group_row)
                    .collect();
                format!(
                    "{}\n{} of {} groups",
                    output::table(
                        &[
                            "GROUP",
                            "STATUS",
                            "TYPE",
                            "SOURCE",
                            "DESTINATION",
                            "TASKS",
                            "OBJECTS",
                            "BYTES"
                        ],
                        &rows
                    ),
                    rows.len(),
                    int(p, "count")
                )
            });
            Ok(())
        }
        GroupCommand::Show { id } => {
            let group = ctx.api.get(&format!("taskgroups/{id}")).await?;
            let tasks = ctx
                .api
                .get(&format!(
                    "tasks{}",
                    query(&[("group_id", Some(id)), ("limit", Some("100".into()))])
                ))
                .await?;
            let tasks = tasks["tasks"].as_array().cloned().unwrap_or_default();
            match ctx.format {
                Format::Json => {
                    let mut shown = group.clone();
                    shown["tasks"] = Value::Array(tasks);
                    output::json(&shown);
                }
                Format::Text => output::line(&group_details(&group, &tasks)),
            }
            Ok(())
        }
        GroupCommand::Watch { id, interval } => {
            watch_until_end(ctx, Subject::Group(id), interval).await
        }
        GroupCommand::Stop { id } => {
            let answer = ctx.api.put(&format!("taskgroups/{id}/stop"), None).await?;
            confirm_done(ctx, &answer, &format!("group {id} is pausing"));
            Ok(())
        }
        GroupCommand::Start { id, keys, follow } => {
            let body = Value::Object(keys.gather(needs_of(ctx, &id).await?)?.start_body());
            ctx.api
                .put(&format!("taskgroups/{id}/start"), Some(&body))
                .await?;
            let message = format!("group {id} resumed");
            after(ctx, &follow, Subject::Group(id), &message).await
        }
        GroupCommand::Retry {
            id,
            keys,
            failed_only,
            follow,
        } => {
            let mut body = keys.gather(needs_of(ctx, &id).await?)?.start_body();
            body.insert("migrate_failed_object".into(), Value::Bool(failed_only));
            ctx.api
                .put(
                    &format!("taskgroups/{id}/retry"),
                    Some(&Value::Object(body)),
                )
                .await?;
            let message = format!("group {id} restarted");
            after(ctx, &follow, Subject::Group(id), &message).await
        }
        GroupCommand::Plan { id } => crate::plan::show(ctx, &Subject::Group(id)).await,
        GroupCommand::Delete { id } => {
            let answer = ctx.api.delete(&format!("taskgroups/{id}")).await?;
            confirm_done(ctx, &answer, &format!("group {id} deleted"));
            Ok(())
        }
        GroupCommand::Failed { id } => failed_objects(ctx, &id).await,
        GroupCommand::Bandwidth { id, windows } => {
            let path = format!("taskgroups/{id}/update");
            set_bandwidth(ctx, &path, &windows, &format!("group {id}")).await
        }
    }
}
