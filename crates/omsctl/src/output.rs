//! What omsctl prints: JSON as omsd answered it (`--output json`), or text for people —
//! tables, sizes in binary units, durations, status names from `oms_core::status`.

use std::io::Write as _;

use oms_core::status::{GroupStatus, TaskStatus};
use serde_json::Value;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people: tables and summaries.
    Text,
    /// omsd's JSON, one document per command (for scripts and `jq`).
    Json,
}

/// Writes `text` and a newline to standard output (a closed pipe is not an error worth a
/// message: the reader has gone).
pub fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

/// Writes `value` as pretty JSON to standard output.
pub fn json(value: &Value) {
    line(&serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

/// `value` in `--output json`, else `text` built from it.
pub fn emit(format: Format, value: &Value, text: impl FnOnce(&Value) -> String) {
    match format {
        Format::Json => json(value),
        Format::Text => line(&text(value)),
    }
}

/// A byte count in binary units (`1.5 MiB`).
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n.max(0) as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A rate in bytes per second (`2.0 MiB/s`).
pub fn rate(bytes_per_sec: i64) -> String {
    format!("{}/s", bytes(bytes_per_sec))
}

/// A duration given in milliseconds, short (`45s`, `3m05s`, `2h10m`).
pub fn duration_ms(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// A Unix time in milliseconds as `YYYY-MM-DD HH:MM:SS` UTC (`-` for 0).
pub fn time_ms(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .map_or_else(|| ms.to_string(), |t| format!("{t} UTC"))
}

/// A task status name (`running`, `completed`, ...).
pub fn task_status(code: i64) -> String {
    TaskStatus::from_code(code).map_or_else(|| format!("status {code}"), |s| s.label().to_owned())
}

/// A task group status name (`monitoring` is shown as `running`).
pub fn group_status(code: i64) -> String {
    match GroupStatus::from_code(code) {
        Some(GroupStatus::Monitoring) => "running".into(),
        Some(s) => s.label().replace('_', " "),
        None => format!("status {code}"),
    }
}

/// An integer field of `value` (0 when absent).
pub fn int(value: &Value, field: &str) -> i64 {
    value[field].as_i64().unwrap_or(0)
}

/// A string field of `value` ("" when absent).
pub fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_default()
}

/// `code: message` of an `error_reason`, when there is one.
pub fn failure_reason(value: &Value) -> Option<String> {
    let reason = &value["error_reason"];
    let code = reason["error_code"].as_str().filter(|c| !c.is_empty())?;
    Some(format!(
        "{code}: {}",
        reason["error_msg"].as_str().unwrap_or_default()
    ))
}

/// Rows as a table with a header, columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let render = |cells: Vec<&str>| {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        line.trim_end().to_owned()
    };
    let mut lines = vec![render(header.to_vec())];
    for row in rows {
        lines.push(render(row.iter().map(String::as_str).collect()));
    }
    lines.join("\n")
}

/// `label: value` lines, the labels padded.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k:<width$}  {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_rates_and_durations_read_as_people_write_them() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_048_576), "1.0 MiB");
        assert_eq!(rate(2_097_152), "2.0 MiB/s");
        assert_eq!(duration_ms(45_000), "45s");
        assert_eq!(duration_ms(185_000), "3m05s");
        assert_eq!(duration_ms(7_800_000), "2h10m");
        assert_eq!(time_ms(0), "-");
        assert_eq!(time_ms(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
    }

    #[test]
    fn statuses_have_names() {
        assert_eq!(task_status(5), "completed");
        assert_eq!(group_status(2), "running");
        assert_eq!(group_status(4), "creation failed");
        assert_eq!(task_status(42), "status 42");
    }

    #[test]
    fn tables_align_their_columns() {
        let t = table(
            &["ID", "STATUS"],
            &[
                vec!["1".into(), "running".into()],
                vec!["22".into(), "x".into()],
            ],
        );
        assert_eq!(t, "ID  STATUS\n1   running\n22  x");
    }
}
