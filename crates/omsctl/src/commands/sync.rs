//! `omsctl sync ...`: sync tasks (a destination kept current from the keys posted to it).

use std::time::{SystemTime, UNIX_EPOCH};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use super::{Ctx, PageArgs, confirm_done};
use crate::client::query;
use crate::error::CtlError;
use crate::keys::{KeyArgs, KeyNeeds};
use crate::output::{self, int, text};

/// How many keys one `events` call may carry (the API's limit).
const KEYS_PER_EVENTS_CALL: usize = 10;

/// Sync tasks.
#[derive(Debug, clap::Subcommand)]
pub enum SyncCommand {
    /// Create a sync task (it synchronizes at once).
    #[command(
        after_help = "Example:\n  OMSCTL_SRC_SK=... OMSCTL_DST_SK=... omsctl sync create --src-cloud AWS --src-region eu-west-1 \\\n    --src-bucket shop --src-ak AKIA... --dst-region cn-north-4 --dst-bucket mirror --dst-ak HPUA..."
    )]
    Create {
        /// The source cloud (S3-compatible clouds with an access key pair).
        #[arg(long, value_name = "CLOUD")]
        src_cloud: String,
        /// The source region.
        #[arg(long, value_name = "REGION")]
        src_region: String,
        /// The source bucket.
        #[arg(long, value_name = "BUCKET")]
        src_bucket: String,
        /// The destination region.
        #[arg(long, value_name = "REGION")]
        dst_region: String,
        /// The destination bucket.
        #[arg(long, value_name = "BUCKET")]
        dst_bucket: String,
        /// A description.
        #[arg(long)]
        description: Option<String>,
        /// The keys.
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// List sync tasks.
    #[command(after_help = "Example:\n  omsctl sync list --status SYNCHRONIZING")]
    List {
        /// SYNCHRONIZING or STOPPED.
        #[arg(long)]
        status: Option<String>,
        /// Which page.
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a sync task with this month's counters.
    #[command(after_help = "Example:\n  omsctl sync show 4f1c2a8e-0c1b-4a7e-9d55-3e0f5b1d2c77")]
    Show {
        /// The sync task id.
        id: String,
    },
    /// Stop a sync task (its keys are erased).
    #[command(after_help = "Example:\n  omsctl sync stop 4f1c2a8e-0c1b-4a7e-9d55-3e0f5b1d2c77")]
    Stop {
        /// The sync task id.
        id: String,
    },
    /// Start a stopped sync task again (the keys are needed again).
    #[command(
        visible_alias = "resume",
        after_help = "Example:\n  omsctl sync start 4f1c2a8e-0c1b-4a7e-9d55-3e0f5b1d2c77 --keys-file keys.toml"
    )]
    Start {
        /// The sync task id.
        id: String,
        /// The keys.
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// Delete a stopped sync task.
    #[command(after_help = "Example:\n  omsctl sync delete 4f1c2a8e-0c1b-4a7e-9d55-3e0f5b1d2c77")]
    Delete {
        /// The sync task id.
        id: String,
    },
    /// Post changed object keys (as they are; omsctl URL-encodes them, 10 per call).
    #[command(
        after_help = "Example:\n  omsctl sync events 4f1c2a8e-0c1b-4a7e-9d55-3e0f5b1d2c77 'new arrival.txt' item-1.jpg"
    )]
    Events {
        /// The sync task id.
        id: String,
        /// The keys that changed.
        #[arg(required = true)]
        keys: Vec<String>,
    },
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The sync task with this month's counters.
async fn fetch(ctx: &Ctx, id: &str) -> Result<Value, CtlError> {
    let month = query(&[("query_time", Some(now_ms().to_string()))]);
    ctx.api.get(&format!("sync-tasks/{id}{month}")).await
}

fn sync_row(task: &Value) -> Vec<String> {
    vec![
        text(task, "sync_task_id").to_owned(),
        text(task, "status").to_owned(),
        format!(
            "{} {}/{}",
            text(task, "src_cloud_type"),
            text(task, "src_region"),
            text(task, "src_bucket")
        ),
        format!("{}/{}", text(task, "dst_region"), text(task, "dst_bucket")),
        output::time_ms(int(task, "create_time")),
    ]
}

fn sync_details(task: &Value) -> String {
    let mut pairs = vec![
        ("sync task", text(task, "sync_task_id").to_owned()),
        ("status", text(task, "status").to_owned()),
        (
            "source",
            format!(
                "{} {}/{}",
                text(task, "src_cloud_type"),
                text(task, "src_region"),
                text(task, "src_bucket")
            ),
        ),
        (
            "destination",
            format!("{}/{}", text(task, "dst_region"), text(task, "dst_bucket")),
        ),
        ("created", output::time_ms(int(task, "create_time"))),
        ("last start", output::time_ms(int(task, "last_start_time"))),
        (
            "this month",
            format!(
                "{} keys received, {} copied, {} skipped, {} failed, {}",
                int(task, "monthly_acceptance_request"),
                int(task, "monthly_success_object"),
                int(task, "monthly_skip_object"),
                int(task, "monthly_failure_object"),
                output::bytes(int(task, "monthly_size"))
            ),
        ),
    ];
    if let Some(reason) = output::failure_reason(task) {
        pairs.push(("backing off", reason));
    }
    output::fields(&pairs)
}

/// Runs a sync command.
pub async fn run(ctx: &Ctx, command: SyncCommand) -> Result<(), CtlError> {
    match command {
        SyncCommand::Create {
            src_cloud,
            src_region,
            src_bucket,
            dst_region,
            dst_bucket,
            description,
            keys,
        } => {
            let gathered = keys.gather(KeyNeeds::migration(&src_cloud, None))?;
            let mut body = Map::new();
            for (field, value) in [
                ("src_cloud_type", src_cloud),
                ("src_region", src_region),
                ("src_bucket", src_bucket),
                ("dst_region", dst_region),
                ("dst_bucket", dst_bucket),
            ] {
                body.insert(field.into(), Value::from(value));
            }
            if let Some(description) = description {
                body.insert("description".into(), Value::from(description));
            }
            gathered.fill_flat(&mut body);
            let created = ctx
                .api
                .post("sync-tasks", Some(&Value::Object(body)))
                .await?;
            output::emit(ctx.format, &created, |c| {
                format!(
                    "sync task {} created; notification path {}",
                    text(c, "sync_task_id"),
                    text(c, "notification_path")
                )
            });
            Ok(())
        }
        SyncCommand::List { status, page } => {
            let page = ctx
                .api
                .get(&format!(
                    "sync-tasks{}",
                    query(&[[("status", status)].as_slice(), &page.pairs()].concat())
                ))
                .await?;
            output::emit(ctx.format, &page, |p| {
                let rows: Vec<Vec<String>> = p["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(sync_row)
                    .collect();
                format!(
                    "{}\n{} of {} sync tasks",
                    output::table(
                        &["SYNC TASK", "STATUS", "SOURCE", "DESTINATION", "CREATED"],
                        &rows
                    ),
                    rows.len(),
                    int(p, "count")
                )
            });
            Ok(())
        }
        SyncCommand::Show { id } => {
            let task = fetch(ctx, &id).await?;
            output::emit(ctx.format, &task, sync_details);
            Ok(())
        }
        SyncCommand::Stop { id } => {
            let answer = ctx.api.post(&format!("sync-tasks/{id}/stop"), None).await?;
            confirm_done(ctx, &answer, &format!("sync task {id} stopped"));
            Ok(())
        }
        SyncCommand::Start { id, keys } => {
            let task = fetch(ctx, &id).await?;
            let needs = KeyNeeds::migration(
                text(&task, "src_cloud_type"),
                task["source_cdn"]["authentication_type"].as_str(),
            );
            let body = Value::Object(keys.gather(needs)?.start_body());
            let answer = ctx
                .api
                .post(&format!("sync-tasks/{id}/start"), Some(&body))
                .await?;
            confirm_done(ctx, &answer, &format!("sync task {id} started"));
            Ok(())
        }
        SyncCommand::Delete { id } => {
            let answer = ctx.api.delete(&format!("sync-tasks/{id}")).await?;
            confirm_done(ctx, &answer, &format!("sync task {id} deleted"));
            Ok(())
        }
        SyncCommand::Events { id, keys } => {
            for chunk in keys.chunks(KEYS_PER_EVENTS_CALL) {
                let encoded: Vec<String> = chunk
                    .iter()
                    .map(|k| utf8_percent_encode(k, NON_ALPHANUMERIC).to_string())
                    .collect();
                ctx.api
                    .post(
                        &format!("sync-tasks/{id}/events"),
                        Some(&json!({"object_keys": encoded})),
                    )
                    .await?;
            }
            confirm_done(
                ctx,
                &Value::Null,
                &format!("{} key(s) posted to sync task {id}", keys.len()),
            );
            Ok(())
        }
    }
}
