//! Plans and proofs, omsd's extensions: `--dry-run` of `task create` and `group create` (omsd
//! lists and compares exactly as a run would, writes nothing at the destination, and keeps
//! what a run would copy, overwrite and skip), `task plan` and `group plan` (a dry run's plan
//! again), and `task manifest` (a finished task's verification manifest).

use serde_json::Value;

use crate::client::query;
use crate::commands::{Ctx, PageArgs, WatchArgs};
use crate::create::Target;
use crate::error::CtlError;
use crate::output::{self, int, text};
use crate::watch::{self, Subject};

/// Creates `body` as a dry run, waits until omsd has planned it (following it when asked), and
/// prints the plan. Exits as `watch` does: 0 when the plan is complete, 1 when it failed.
pub async fn dry_run(
    ctx: &Ctx,
    target: Target,
    body: &Value,
    follow: &WatchArgs,
) -> Result<(), CtlError> {
    let mut body = body.clone();
    body["dry_run"] = Value::Bool(true);
    let path = match target {
        Target::Task => "tasks",
        Target::Group => "taskgroups",
    };
    let created = ctx.api.post(path, Some(&body)).await?;
    let subject = match target {
        Target::Task => Subject::Task(int(&created, "id")),
        Target::Group => Subject::Group(text(&created, "group_id").to_owned()),
    };
    let show = follow.watch && ctx.format == output::Format::Text;
    let followed = watch::follow(&ctx.api, &subject, follow.interval(), show).await?;
    print(ctx, &subject, &followed.last);
    followed.outcome()
}

/// `task plan` / `group plan`: the plan of a dry run, as far as it got.
pub async fn show(ctx: &Ctx, subject: &Subject) -> Result<(), CtlError> {
    let seen = match subject {
        Subject::Task(id) => ctx.api.get(&format!("tasks/{id}")).await?,
        Subject::Group(id) => ctx.api.get(&format!("taskgroups/{id}")).await?,
    };
    if seen["dry_run"].as_bool() != Some(true) {
        return Err(CtlError::Usage(format!(
            "{} is not a dry run: create one with --dry-run",
            name(subject)
        )));
    }
    print(ctx, subject, &seen);
    Ok(())
}

fn name(subject: &Subject) -> String {
    match subject {
        Subject::Task(id) => format!("task {id}"),
        Subject::Group(id) => format!("group {id}"),
    }
}

/// Prints `seen` (a dry-run task or group as omsd shows it): as JSON whole, as text its plan.
fn print(ctx: &Ctx, subject: &Subject, seen: &Value) {
    output::emit(ctx.format, seen, |s| plan_text(subject, s));
}

/// The plan of `seen` (the task or group `subject`) as lines of text.
fn plan_text(subject: &Subject, seen: &Value) -> String {
    let plan = &seen["plan"];
    let name = name(subject);
    let status = match subject {
        Subject::Group(_) => output::group_status(int(seen, "status")),
        Subject::Task(_) => output::task_status(int(seen, "status")),
    };
    let mut lines = vec![format!(
        "Plan of {name} ({status}; a dry run: nothing was written at the destination)"
    )];
    if plan.is_null() {
        lines.push("  no plan yet".into());
        return lines.join("\n");
    }
    for (label, part) in [
        ("copy", &plan["copy"]),
        ("overwrite", &plan["overwrite"]),
        ("skip", &plan["skip"]),
    ] {
        let keys: Vec<&str> = part["first_keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let first = match keys.is_empty() {
            true => String::new(),
            false => format!("  first: {}", keys.join(", ")),
        };
        lines.push(format!(
            "  {label:<10}{:>10} objects {:>10}{first}",
            int(part, "num"),
            output::bytes(int(part, "size"))
        ));
    }
    match (
        plan["history_speed"].as_i64(),
        plan["estimated_time"].as_i64(),
    ) {
        (Some(speed), Some(ms)) => lines.push(format!(
            "  predicted {} at {} (the project's last completed runs)",
            output::duration_ms(ms),
            output::rate(speed)
        )),
        _ => lines.push("  predicted: no completed run yet to predict from".into()),
    }
    if let Some(reason) = output::failure_reason(seen) {
        lines.push(format!("  failure: {reason}"));
    }
    lines.join("\n")
}

/// `task manifest`: one page of a task's verification manifest.
pub async fn manifest(ctx: &Ctx, id: i64, page: PageArgs) -> Result<(), CtlError> {
    let answer = ctx
        .api
        .get(&format!("tasks/{id}/manifest{}", query(&page.pairs())))
        .await?;
    output::emit(ctx.format, &answer, |m| {
        let rows: Vec<Vec<String>> = m["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                vec![
                    text(o, "key").to_owned(),
                    int(o, "size").to_string(),
                    text(o, "checksum").to_owned(),
                    text(o, "checksum_value").to_owned(),
                    text(o, "dst_etag").to_owned(),
                ]
            })
            .collect();
        format!(
            "{}\n{} of {} objects",
            output::table(
                &["KEY", "SIZE", "CHECKSUM", "VALUE", "DESTINATION ETAG"],
                &rows
            ),
            rows.len(),
            int(m, "count")
        )
    });
    Ok(())
}
