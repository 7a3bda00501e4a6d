//! The results table.

use std::time::Duration;

/// One line of the table: a tool's median over its runs of one workload.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub workload: String,
    pub tool: String,
    /// Wall time of each run.
    pub times: Vec<Duration>,
    pub objects: u64,
    pub bytes: u64,
    /// Peak resident memory over the runs, KiB (None: not measured).
    pub peak_kib: Option<u64>,
    /// Free text instead of rates (workload f).
    pub note: Option<String>,
    /// Free text in the last column instead of the ratio to OMS (the fleet's rows).
    pub remark: Option<String>,
}

impl Row {
    pub(crate) fn median(&self) -> Duration {
        let mut times = self.times.clone();
        times.sort();
        times.get(times.len() / 2).copied().unwrap_or_default()
    }

    pub(crate) fn objects_per_sec(&self) -> f64 {
        let secs = self.median().as_secs_f64();
        if secs > 0.0 {
            self.objects as f64 / secs
        } else {
            0.0
        }
    }

    fn mb_per_sec(&self) -> f64 {
        let secs = self.median().as_secs_f64();
        if secs > 0.0 {
            self.bytes as f64 / 1e6 / secs
        } else {
            0.0
        }
    }
}

/// A Markdown table; the last column is OMS's rate over each other row's, in its workload.
pub(crate) fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| workload | tool | runs | median s | objects/s | MB/s | peak RSS MiB | OMS ÷ row |\n|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        if let Some(note) = &row.note {
            out.push_str(&format!(
                "| {} | {} | {} | | | | {} | {note} |\n",
                row.workload,
                row.tool,
                row.times.len(),
                row.peak_kib
                    .map(|k| format!("{:.0}", k as f64 / 1024.0))
                    .unwrap_or_default(),
            ));
            continue;
        }
        let ratio = if let Some(remark) = &row.remark {
            remark.clone()
        } else if row.tool == "OMS" {
            String::new()
        } else {
            rows.iter()
                .find(|r| r.workload == row.workload && r.tool == "OMS")
                .filter(|_| row.objects_per_sec() > 0.0)
                .map(|oms| format!("{:.2}", oms.objects_per_sec() / row.objects_per_sec()))
                .unwrap_or_default()
        };
        out.push_str(&format!(
            "| {} | {} | {} | {:.2} | {:.0} | {:.1} | {} | {ratio} |\n",
            row.workload,
            row.tool,
            row.times.len(),
            row.median().as_secs_f64(),
            row.objects_per_sec(),
            row.mb_per_sec(),
            row.peak_kib
                .map(|k| format!("{:.0}", k as f64 / 1024.0))
                .unwrap_or_default(),
        ));
    }
    out
}
