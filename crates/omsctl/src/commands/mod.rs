//! The commands: one module per kind of thing omsd keeps, each with its options (clap) and
//! what it does (one or a few API calls, then output).

pub mod bucket;
pub mod group;
pub mod login;
pub mod sync;
pub mod task;

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::Api;
use crate::create::{BandwidthWindow, MigrationArgs, Target, bandwidth_policy};
use crate::error::CtlError;
use crate::output::{self, Format};
use crate::output::{int, text};
use crate::plan;
use crate::watch::{self, Subject};

/// What every API command runs with.
#[derive(Debug)]
pub struct Ctx {
    /// The client of the profile's omsd and project.
    pub api: Api,
    /// How results are printed.
    pub format: Format,
}

/// `--watch` on commands that start something.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    /// Follow it until it ends (exit 0 when it completes, 1 when it fails or pauses).
    #[arg(long)]
    pub watch: bool,
    /// Seconds between looks while following.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub interval: f64,
}

impl WatchArgs {
    /// The interval, at least 0.2 s.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.interval.clamp(0.2, 3600.0))
    }
}

/// `task create` and `group create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// What to migrate, and the keys.
    #[command(flatten)]
    pub migration: Box<MigrationArgs>,
    /// Plan only: omsd lists and compares as a run would, writes nothing at the destination,
    /// and this prints what a run would copy, overwrite and skip (the task or group is kept,
    /// marked as a dry run; see `task plan`).
    #[arg(long)]
    pub dry_run: bool,
    /// Follow it once created.
    #[command(flatten)]
    pub follow: WatchArgs,
}

impl CreateArgs {
    /// Creates the task or group (or shows its plan), and follows it when asked.
    pub async fn run(&self, ctx: &Ctx, target: Target) -> Result<(), CtlError> {
        let body = self.migration.body(target)?;
        if self.dry_run {
            return plan::dry_run(ctx, target, &body, &self.follow).await;
        }
        let path = match target {
            Target::Task => "tasks",
            Target::Group => "taskgroups",
        };
        create(ctx, path, &body, &self.follow, |c| match target {
            Target::Task => {
                let id = int(c, "id");
                let message = format!("task {id} created ({})", text(c, "task_name"));
                (Subject::Task(id), message)
            }
            Target::Group => {
                let id = text(c, "group_id").to_owned();
                let message = format!("group {id} created");
                (Subject::Group(id), message)
            }
        })
        .await
    }
}

/// `--limit` and `--offset` of the list commands.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct PageArgs {
    /// At most this many (1-100).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Skip this many.
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
}

impl PageArgs {
    /// The query pairs of the page.
    pub fn pairs(self) -> [(&'static str, Option<String>); 2] {
        [
            ("limit", Some(self.limit.to_string())),
            ("offset", Some(self.offset.to_string())),
        ]
    }
}

/// What a verb's answer (`{}`) prints: `message` as text, the answer as JSON.
pub fn confirm_done(ctx: &Ctx, answer: &Value, message: &str) {
    let answer = if answer.is_null() {
        Value::Object(serde_json::Map::new())
    } else {
        answer.clone()
    };
    output::emit(ctx.format, &answer, |_| message.to_owned());
}

/// After a verb that starts `subject`: follow it when asked, else say `message`.
pub async fn after(
    ctx: &Ctx,
    follow: &WatchArgs,
    subject: Subject,
    message: &str,
) -> Result<(), CtlError> {
    if follow.watch {
        if ctx.format == Format::Text {
            output::line(message);
        }
        return watch::watch(&ctx.api, &subject, follow.interval(), ctx.format)
            .await
            .map(|_| ());
    }
    confirm_done(ctx, &Value::Null, message);
    Ok(())
}

/// `watch`: follows `subject`, looking every `interval` seconds.
pub async fn watch_until_end(ctx: &Ctx, subject: Subject, interval: f64) -> Result<(), CtlError> {
    let follow = WatchArgs {
        watch: true,
        interval,
    };
    watch::watch(&ctx.api, &subject, follow.interval(), ctx.format)
        .await
        .map(|_| ())
}

/// Creates `body` with `POST path`, then follows it when asked, else prints omsd's answer
/// (as text: what `describe` makes of it).
pub async fn create(
    ctx: &Ctx,
    path: &str,
    body: &Value,
    follow: &WatchArgs,
    describe: impl Fn(&Value) -> (Subject, String),
) -> Result<(), CtlError> {
    let created = ctx.api.post(path, Some(body)).await?;
    let (subject, message) = describe(&created);
    if follow.watch {
        return after(ctx, follow, subject, &message).await;
    }
    output::emit(ctx.format, &created, |_| message.clone());
    Ok(())
}

/// Replaces the bandwidth windows with `PUT path` (`what`: the task or group, for the message).
pub async fn set_bandwidth(
    ctx: &Ctx,
    path: &str,
    windows: &[BandwidthWindow],
    what: &str,
) -> Result<(), CtlError> {
    let body = json!({"bandwidth_policy": bandwidth_policy(windows)});
    let answer = ctx.api.put(path, Some(&body)).await?;
    confirm_done(
        ctx,
        &answer,
        &format!("{what}: {} bandwidth window(s) set", windows.len()),
    );
    Ok(())
}
