//! The commands: one module per kind of thing omsd keeps, each with its options (clap) and
//! what it does (one or a few API calls, then output).

pub mod bucket;
pub mod group;
pub mod login;
pub mod sync;
pub mod task;

use std::time::Duration;

use serde_json::Value;

use crate::client::Api;
use crate::error::CtlError;
use crate::output::{self, Format};
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
