//! `watch`: a task's or group's progress as it happens, until it ends.
//!
//! At a terminal: live bars (indicatif) — bytes, objects, rate and ETA as omsd reports them, one
//! line per task of a group. Elsewhere (a pipe, a log file): a plain line whenever something
//! changed. Then a summary, the failure reason and the first failed objects. With
//! `--output json`, nothing but the final task or group (one JSON document).

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::client::{Api, query};
use crate::error::CtlError;
use crate::output::{self, Format, int, text};

/// How many network failures in a row a watch rides out (omsd restarting, a busy machine).
const MAX_FAILURES_IN_A_ROW: u32 = 10;
/// How many task bars a group shows; the rest are summed up in one line.
const MAX_TASK_BARS: usize = 20;
/// How many failed objects the summary names.
const FAILED_OBJECTS_SHOWN: usize = 5;

/// What is watched.
#[derive(Debug, Clone)]
pub enum Subject {
    /// A task, by id.
    Task(i64),
    /// A task group, by id.
    Group(String),
}

/// How a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Completed,
    Failed,
    Paused,
}

fn task_end(status: i64) -> Option<End> {
    match status {
        3 => Some(End::Paused),
        4 => Some(End::Failed),
        5 => Some(End::Completed),
        _ => None,
    }
}

fn group_end(status: i64) -> Option<End> {
    match status {
        3 | 8 | 9 => Some(End::Paused),
        4 | 5 => Some(End::Failed),
        6 => Some(End::Completed),
        _ => None,
    }
}

/// The progress line of a task (after its name).
pub fn task_progress(task: &Value) -> String {
    let mut line = format!(
        "{:<10} {}/{} objects",
        output::task_status(int(task, "status")),
        int(task, "successful_num") + int(task, "skipped_num"),
        int(task, "total_num"),
    );
    if int(task, "failed_num") > 0 {
        line.push_str(&format!(" ({} failed)", int(task, "failed_num")));
    }
    line.push_str(&format!(
        "  {}/{}",
        output::bytes(int(task, "complete_size")),
        output::bytes(int(task, "total_size"))
    ));
    if int(task, "status") == 2 && int(task, "migrate_speed") > 0 {
        line.push_str(&format!("  {}", output::rate(int(task, "migrate_speed"))));
        if int(task, "left_time") > 0 {
            line.push_str(&format!(
                "  ETA {}",
                output::duration_ms(int(task, "left_time"))
            ));
        }
    }
    line
}

/// The progress line of a group (after its name).
pub fn group_progress(group: &Value) -> String {
    let done = int(group, "success_num") + int(group, "skip_num");
    let mut line = format!(
        "{:<10} {}/{} objects",
        output::group_status(int(group, "status")),
        done,
        int(group, "total_num"),
    );
    if int(group, "fail_num") > 0 {
        line.push_str(&format!(" ({} failed)", int(group, "fail_num")));
    }
    line.push_str(&format!(
        "  {}/{}  tasks {}/{} done",
        output::bytes(int(group, "complete_size")),
        output::bytes(int(group, "total_size")),
        int(group, "complete_task_num"),
        int(group, "total_task_num"),
    ));
    let speed = int(group, "migrate_speed");
    if matches!(int(group, "status"), 1 | 2) && speed > 0 {
        line.push_str(&format!("  {}", output::rate(speed)));
        let left_ms =
            (int(group, "total_size") - int(group, "complete_size")).max(0) * 1000 / speed;
        if left_ms > 0 {
            line.push_str(&format!("  ETA {}", output::duration_ms(left_ms)));
        }
    }
    line
}

/// The tasks of group `id` (every page).
async fn group_tasks(api: &Api, id: &str) -> Result<Vec<Value>, CtlError> {
    let mut tasks = Vec::new();
    loop {
        let page = api
            .get(&format!(
                "tasks{}",
                query(&[
                    ("group_id", Some(id.to_owned())),
                    ("limit", Some("100".into())),
                    ("offset", Some(tasks.len().to_string())),
                ])
            ))
            .await?;
        let items = page["tasks"].as_array().cloned().unwrap_or_default();
        let count = usize::try_from(int(&page, "count")).unwrap_or(0);
        let empty = items.is_empty();
        tasks.extend(items);
        if empty || tasks.len() >= count {
            return Ok(tasks);
        }
    }
}

/// One look at the subject: the task or group, and a group's tasks.
async fn look(api: &Api, subject: &Subject) -> Result<(Value, Vec<Value>), CtlError> {
    match subject {
        Subject::Task(id) => Ok((api.get(&format!("tasks/{id}")).await?, Vec::new())),
        Subject::Group(id) => {
            let group = api.get(&format!("taskgroups/{id}")).await?;
            let tasks = group_tasks(api, id).await?;
            Ok((group, tasks))
        }
    }
}

/// Live bars at a terminal.
struct Bars {
    multi: MultiProgress,
    main: ProgressBar,
    tasks: BTreeMap<i64, ProgressBar>,
    more: Option<ProgressBar>,
    style: ProgressStyle,
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:<22} [{bar:24}] {percent:>3}% {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Bars {
    fn new(name: &str) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let style = bar_style();
        let main = multi.add(ProgressBar::new(0).with_style(style.clone()));
        main.set_prefix(name.to_owned());
        Self {
            multi,
            main,
            tasks: BTreeMap::new(),
            more: None,
            style,
        }
    }

    fn set(bar: &ProgressBar, total: i64, done: i64, message: String) {
        bar.set_length(u64::try_from(total.max(done)).unwrap_or(0).max(1));
        bar.set_position(u64::try_from(done).unwrap_or(0));
        bar.set_message(message);
    }

    fn update(&mut self, main: &Value, tasks: &[Value], is_group: bool) {
        let message = if is_group {
            group_progress(main)
        } else {
            task_progress(main)
        };
        Self::set(
            &self.main,
            int(main, "total_size"),
            int(main, "complete_size"),
            message,
        );
        for task in tasks.iter().take(MAX_TASK_BARS) {
            let id = int(task, "id");
            let bar = self.tasks.entry(id).or_insert_with(|| {
                let bar = self
                    .multi
                    .add(ProgressBar::new(0).with_style(self.style.clone()));
                bar.set_prefix(format!("  task {id}"));
                bar
            });
            Self::set(
                bar,
                int(task, "total_size"),
                int(task, "complete_size"),
                task_progress(task),
            );
        }
        if tasks.len() > MAX_TASK_BARS {
            let more = self.more.get_or_insert_with(|| {
                self.multi.add(
                    ProgressBar::new_spinner().with_style(
                        ProgressStyle::with_template("{msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    ),
                )
            });
            more.set_message(format!(
                "  ... and {} more tasks",
                tasks.len() - MAX_TASK_BARS
            ));
        }
    }

    fn finish(self) {
        self.main.finish();
        for bar in self.tasks.values() {
            bar.finish();
        }
        if let Some(more) = &self.more {
            more.finish();
        }
    }
}

/// Plain lines for pipes and logs: a line per change.
#[derive(Default)]
struct Lines {
    last: BTreeMap<String, String>,
}

impl Lines {
    fn say(&mut self, name: String, progress: String) {
        if self.last.get(&name) != Some(&progress) {
            output::line(&format!("{name}: {progress}"));
            self.last.insert(name, progress);
        }
    }

    fn update(&mut self, name: &str, main: &Value, tasks: &[Value], is_group: bool) {
        let progress = if is_group {
            group_progress(main)
        } else {
            task_progress(main)
        };
        self.say(name.to_owned(), progress);
        for task in tasks {
            self.say(format!("  task {}", int(task, "id")), task_progress(task));
        }
    }
}

/// How following a task or group ended: as omsd last showed it (and its tasks, for a group).
#[derive(Debug)]
pub struct Followed {
    /// The task or group as omsd last showed it.
    pub last: Value,
    tasks: Vec<Value>,
    end: End,
    name: String,
    is_group: bool,
}

impl Followed {
    /// Ok when it completed, else [`CtlError::Failed`] saying how it ended.
    pub fn outcome(&self) -> Result<(), CtlError> {
        let name = &self.name;
        let last = &self.last;
        match self.end {
            End::Completed => Ok(()),
            End::Failed => Err(CtlError::Failed(format!(
                "{name} failed{}",
                output::failure_reason(last)
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ))),
            End::Paused => Err(CtlError::Failed(format!(
                "{name} {} before it completed",
                if self.is_group {
                    output::group_status(int(last, "status"))
                } else {
                    output::task_status(int(last, "status"))
                }
            ))),
        }
    }
}

/// Follows `subject` until it completes, fails or pauses, polling every `interval`; shows its
/// progress in text when `show` (bars at a terminal, plain lines otherwise), else nothing.
pub async fn follow(
    api: &Api,
    subject: &Subject,
    interval: Duration,
    show: bool,
) -> Result<Followed, CtlError> {
    let (name, is_group) = match subject {
        Subject::Task(id) => (format!("task {id}"), false),
        Subject::Group(id) => (format!("group {}", short(id)), true),
    };
    let live = show && std::io::stdout().is_terminal();
    let mut bars = live.then(|| Bars::new(&name));
    let mut lines = Lines::default();
    let mut failures = 0;
    let (last, tasks, end) = loop {
        let (main, tasks) = match look(api, subject).await {
            Ok(seen) => {
                failures = 0;
                seen
            }
            Err(e @ CtlError::Network { .. }) => {
                failures += 1;
                if failures >= MAX_FAILURES_IN_A_ROW {
                    return Err(e);
                }
                tokio::time::sleep(interval).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        match &mut bars {
            Some(bars) => bars.update(&main, &tasks, is_group),
            None if show => lines.update(&name, &main, &tasks, is_group),
            None => {}
        }
        let status = int(&main, "status");
        let end = if is_group {
            group_end(status)
        } else {
            task_end(status)
        };
        if let Some(end) = end {
            break (main, tasks, end);
        }
        tokio::time::sleep(interval).await;
    };
    if let Some(bars) = bars {
        bars.finish();
    }
    Ok(Followed {
        last,
        tasks,
        end,
        name,
        is_group,
    })
}

/// Watches `subject` until it completes (Ok), fails or pauses (`CtlError::Failed`), polling
/// every `interval`; prints progress as [`Format`] and the terminal allow, then a summary.
pub async fn watch(
    api: &Api,
    subject: &Subject,
    interval: Duration,
    format: Format,
) -> Result<Value, CtlError> {
    let followed = follow(api, subject, interval, format == Format::Text).await?;
    match format {
        Format::Json => output::json(&followed.last),
        Format::Text => {
            summarize(
                api,
                &followed.name,
                &followed.last,
                &followed.tasks,
                followed.is_group,
            )
            .await;
        }
    }
    followed.outcome().map(|()| followed.last)
}

/// The first 8 characters of a group id (enough to tell groups apart on a screen).
fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// The closing lines: counts, bytes, time, average rate, why it failed and what failed.
async fn summarize(api: &Api, name: &str, last: &Value, tasks: &[Value], is_group: bool) {
    let (done, failed, skipped) = if is_group {
        (
            int(last, "success_num"),
            int(last, "fail_num"),
            int(last, "skip_num"),
        )
    } else {
        (
            int(last, "successful_num"),
            int(last, "failed_num"),
            int(last, "skipped_num"),
        )
    };
    let status = if is_group {
        output::group_status(int(last, "status"))
    } else {
        output::task_status(int(last, "status"))
    };
    let elapsed_ms = int(last, "total_time");
    let bytes = int(last, "complete_size");
    let average = if elapsed_ms > 0 {
        format!(
            ", average {}",
            output::rate(bytes.saturating_mul(1000) / elapsed_ms)
        )
    } else {
        String::new()
    };
    output::line(&format!(
        "{name} {status} after {}: {} objects ({done} copied, {failed} failed, {skipped} skipped), {}{average}",
        output::duration_ms(elapsed_ms),
        int(last, "total_num"),
        output::bytes(bytes),
    ));
    if let Some(reason) = output::failure_reason(last) {
        output::line(&format!("reason: {reason}"));
    }
    let failing: Vec<i64> = if is_group {
        tasks
            .iter()
            .filter(|t| int(t, "failed_num") > 0)
            .map(|t| int(t, "id"))
            .collect()
    } else if failed > 0 {
        vec![int(last, "id")]
    } else {
        Vec::new()
    };
    for task in tasks.iter().filter(|t| int(t, "status") == 4) {
        if let Some(reason) = output::failure_reason(task) {
            output::line(&format!("  task {}: {reason}", int(task, "id")));
        }
    }
    let mut shown = 0;
    for id in failing {
        let Ok(page) = api
            .get(&format!(
                "tasks/{id}/failed-objects{}",
                query(&[("limit", Some(FAILED_OBJECTS_SHOWN.to_string()))])
            ))
            .await
        else {
            continue;
        };
        for object in page["failed_objects"].as_array().into_iter().flatten() {
            if shown == FAILED_OBJECTS_SHOWN {
                return;
            }
            shown += 1;
            output::line(&format!(
                "  failed: {} ({}): {}",
                text(object, "key"),
                text(object, "error_code"),
                text(object, "error_msg")
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn progress_lines_say_what_a_person_checks() {
        let task = json!({"id": 7, "status": 2, "successful_num": 12, "skipped_num": 0,
            "total_num": 40, "failed_num": 1, "complete_size": 12_582_912,
            "total_size": 41_943_040, "migrate_speed": 2_097_152, "left_time": 14_000});
        assert_eq!(
            task_progress(&task),
            "running    12/40 objects (1 failed)  12.0 MiB/40.0 MiB  2.0 MiB/s  ETA 14s"
        );
        let group = json!({"status": 6, "success_num": 40, "skip_num": 0, "total_num": 40,
            "fail_num": 0, "complete_size": 100, "total_size": 100, "complete_task_num": 1,
            "total_task_num": 1});
        assert_eq!(
            group_progress(&group),
            "completed  40/40 objects  100 B/100 B  tasks 1/1 done"
        );
        assert_eq!(group_end(7), None);
        assert_eq!(task_end(4), Some(End::Failed));
    }
}
