//! The workloads across a wide-area network (`a@wan`, `c@wan`): the same objects as (a) and
//! (c), with every request to either server through a proxy that adds a one-way latency each
//! way (`--latency-ms`, 25 ms by default: a 50 ms round trip, as between regions). OMS runs at
//! its defaults; rclone at its defaults and at OMS's concurrency; the bare copy (GET → PUT, one
//! request each, at OMS's concurrency, through the same proxies) is what the servers allow
//! across that latency; and the latency bound is what no tool can beat with that many objects
//! in flight: in-flight ÷ (requests per object × round trip).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use futures::StreamExt as _;
use oms_storage::{WriteOptions, WriteStore};

use crate::procs::{
    DST_AK, DST_BUCKET, DST_SK, Oms, OmsSetup, Rclone, SRC_AK, SRC_BUCKET, SRC_SK, connector,
    peak_rss_kib, prefix_task, rclone_copy,
};
use crate::proxy::Proxy;
use crate::report::Row;
use crate::workloads::{Bench, MULTIPART_THRESHOLD, Objects, PART_SIZE, count_all};

/// The fewest requests a copy of an object of `size` bytes needs, as OMS sends it: a GET and
/// a PUT; above the multipart threshold, a ranged GET and an UploadPart per part, plus the
/// upload's creation and completion.
fn fewest_requests(size: u64) -> u64 {
    if size < MULTIPART_THRESHOLD {
        2
    } else {
        2 * size.div_ceil(PART_SIZE) + 2
    }
}

/// Requests by operation through both proxies, as one line: per object, and in all.
fn requests_line(
    src: &BTreeMap<&'static str, u64>,
    dst: &BTreeMap<&'static str, u64>,
    connections: u64,
    objects: u64,
) -> String {
    let mut all: BTreeMap<&str, u64> = BTreeMap::new();
    for (op, n) in src.iter().chain(dst) {
        *all.entry(op).or_default() += n;
    }
    let total: u64 = all.values().sum();
    let each: Vec<String> = all.iter().map(|(op, n)| format!("{op} {n}")).collect();
    format!(
        "{:.2} requests/object ({}), {connections} connections",
        total as f64 / objects.max(1) as f64,
        each.join(", ")
    )
}

/// The two proxies of a WAN workload.
pub(crate) struct Wan {
    pub src: Proxy,
    pub dst: Proxy,
}

impl Wan {
    /// A proxy in front of each side (`http://host:port`), adding `one_way` to each direction
    /// of every request.
    pub(crate) async fn start(src: &str, dst: &str, one_way: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            src: Proxy::start(src, one_way).await?,
            dst: Proxy::start(dst, one_way).await?,
        })
    }

    /// The requests and connections since the last call, as a line.
    pub(crate) fn take(&self, objects: u64) -> String {
        let (src, src_conns) = self.src.log.take();
        let (dst, dst_conns) = self.dst.log.take();
        requests_line(&src, &dst, src_conns + dst_conns, objects)
    }
}

impl Bench<'_> {
    /// The bare copy through the proxies: GET → PUT per object at OMS's concurrency.
    async fn wan_limit(&self, wan: &Wan, objects: &Objects) -> anyhow::Result<Duration> {
        self.dst.empty(DST_BUCKET)?;
        let src = connector(&wan.src.url, SRC_AK, SRC_SK)?;
        let dst: Arc<dyn WriteStore> = connector(&wan.dst.url, DST_AK, DST_SK)?;
        let started = Instant::now();
        let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..objects.sizes.len())
            .map(|i| {
                let (src, dst) = (src.clone(), dst.clone());
                let key = objects.key(i);
                async move {
                    let download = src.get(SRC_BUCKET, &key, None, None).await?;
                    let payload = oms_storage::Payload {
                        size: download.content_length,
                        body: download.body,
                        content_md5: None,
                    };
                    dst.put(DST_BUCKET, &key, payload, &WriteOptions::default())
                        .await?;
                    Ok(())
                }
            })
            .buffer_unordered(self.args.concurrency)
            .collect()
            .await;
        let elapsed = started.elapsed();
        results.into_iter().collect::<anyhow::Result<()>>()?;
        Ok(elapsed)
    }

    /// A copy workload across the WAN: OMS, rclone (defaults, then OMS's concurrency), the bare
    /// copy and the latency bound.
    pub(crate) async fn wan_copy(
        &self,
        name: &str,
        objects: &Objects,
        one_way: Duration,
    ) -> anyhow::Result<Vec<Row>> {
        let rtt = one_way * 2;
        let in_flight = self.args.concurrency;
        eprintln!(
            "{name}: {} objects, {:.1} MB, {} ms round trip, {in_flight} in flight",
            objects.count(),
            objects.bytes() as f64 / 1e6,
            rtt.as_millis()
        );
        let wan = Wan::start(&self.src.url, &self.dst.url, one_way).await?;
        let row = |tool: &str| Row {
            workload: name.to_owned(),
            tool: tool.to_owned(),
            times: Vec::new(),
            objects: objects.count(),
            bytes: objects.bytes(),
            peak_kib: None,
            note: None,
            remark: None,
        };
        let like = format!("rclone, {in_flight} transfers");
        let mut rows = vec![
            row("OMS"),
            row("rclone"),
            row(&like),
            row("bare copy"),
            row("latency bound"),
        ];
        let fewest: u64 = objects.sizes.iter().map(|&s| fewest_requests(s)).sum();
        rows[4]
            .times
            .push(rtt.mul_f64(fewest as f64 / in_flight as f64));
        for run in 0..self.args.runs {
            self.dst.empty(DST_BUCKET)?;
            wan.take(0);
            let setup = OmsSetup {
                src_url: &wan.src.url,
                dst_url: &wan.dst.url,
                ..self.setup("oms-wan")
            };
            let oms = Oms::start(&setup).await?;
            let (t, task) = oms.run_task(&prefix_task(objects.prefix)).await?;
            ensure!(
                task["successful_num"].as_u64() == Some(objects.count()),
                "OMS copied {} of {} objects",
                task["successful_num"],
                objects.count()
            );
            let peak = peak_rss_kib(oms.pid());
            drop(oms);
            eprintln!(
                "  run {run}: OMS {:.2}s, {} MiB; {}",
                t.as_secs_f64(),
                peak / 1024,
                wan.take(objects.count())
            );
            rows[0].times.push(t);
            rows[0].peak_kib = Some(rows[0].peak_kib.unwrap_or(0).max(peak));
            for (index, how) in [(1, Rclone::Defaults), (2, Rclone::Like(in_flight))] {
                self.dst.empty(DST_BUCKET)?;
                let (t, peak) = rclone_copy(
                    &self.args.rclone,
                    (&wan.src.url, &wan.dst.url),
                    objects.prefix,
                    how,
                )?;
                let copied = count_all(&self.dst_connector()?, DST_BUCKET, objects.prefix).await?;
                ensure!(copied == objects.count(), "rclone left {copied} objects");
                eprintln!(
                    "  run {run}: {} {:.2}s, {} MiB; {}",
                    rows[index].tool,
                    t.as_secs_f64(),
                    peak / 1024,
                    wan.take(objects.count())
                );
                rows[index].times.push(t);
                rows[index].peak_kib = Some(rows[index].peak_kib.unwrap_or(0).max(peak));
            }
            let t = self.wan_limit(&wan, objects).await?;
            eprintln!(
                "  run {run}: bare copy {:.2}s; {}",
                t.as_secs_f64(),
                wan.take(objects.count())
            );
            rows[3].times.push(t);
        }
        Ok(rows)
    }
}

impl Bench<'_> {
    /// `d@wan`: a re-check of `count` objects in one flat prefix across the WAN, both sides
    /// already equal, on the synthetic listing server (see [`crate::listing`]): OMS; rclone
    /// with twice OMS's concurrency as checkers, as it runs by default (a HEAD of each object
    /// on both sides, for its own time metadata) and comparing the listed times (its two
    /// listings and nothing else); both listings side by side as one serial chain of pages
    /// each (what a tool listing serially cannot beat); and the server's own listing rate
    /// without the proxy. (rclone at its defaults, 8 checkers, is left out: 72 checks/s here,
    /// 11 minutes for 50,000 objects.)
    pub(crate) async fn wan_recheck(
        &self,
        name: &str,
        count: u64,
        one_way: Duration,
    ) -> anyhow::Result<Vec<Row>> {
        let server = crate::listing::start(count).await?;
        let prefix = crate::listing::PREFIX;
        let direct = connector(&server, SRC_AK, SRC_SK)?;
        let started = Instant::now();
        ensure!(count_all(&direct, SRC_BUCKET, prefix).await? == count);
        let server_rate = count as f64 / started.elapsed().as_secs_f64();
        eprintln!(
            "{name}: {count} objects on both sides, {} ms round trip; the server alone lists {server_rate:.0} keys/s",
            (one_way * 2).as_millis()
        );
        let wan = Wan::start(&server, &server, one_way).await?;
        let row = |tool: &str| Row {
            workload: name.to_owned(),
            tool: tool.to_owned(),
            times: Vec::new(),
            objects: count,
            bytes: 0,
            peak_kib: None,
            note: None,
            remark: None,
        };
        let in_flight = self.args.concurrency;
        let checkers = in_flight * 2;
        let mut rows = vec![
            row("OMS"),
            row(&format!("rclone, {checkers} checkers")),
            row(&format!("rclone, {checkers} checkers, listed times")),
            row("serial listings"),
        ];
        rows[3].note = Some(format!(
            "both listings, one page after another (the server alone: {server_rate:.0} keys/s)"
        ));
        for run in 0..self.args.runs {
            wan.take(0);
            let setup = OmsSetup {
                src_url: &wan.src.url,
                dst_url: &wan.dst.url,
                ..self.setup("oms-recheck")
            };
            let oms = Oms::start(&setup).await?;
            let cpu = crate::procs::cpu_secs(oms.pid());
            let (t, task) = oms.run_task(&prefix_task(prefix)).await?;
            ensure!(
                task["skipped_num"].as_u64() == Some(count),
                "OMS did not skip every object: {task}"
            );
            let cpu = crate::procs::cpu_secs(oms.pid()) - cpu;
            let peak = peak_rss_kib(oms.pid());
            drop(oms);
            let requests = wan.take(count);
            eprintln!(
                "  run {run}: OMS {:.2}s, {} MiB, {cpu:.1} s of CPU; {requests}",
                t.as_secs_f64(),
                peak / 1024
            );
            rows[0].times.push(t);
            rows[0].peak_kib = Some(rows[0].peak_kib.unwrap_or(0).max(peak));
            if self.args.oms_only {
                continue;
            }
            for (index, how) in [
                (1, Rclone::Like(in_flight)),
                (2, Rclone::ServerTimes(in_flight)),
            ] {
                let (t, peak) =
                    rclone_copy(&self.args.rclone, (&wan.src.url, &wan.dst.url), prefix, how)?;
                let (src, _) = wan.src.log.take();
                let (dst, dst_conns) = wan.dst.log.take();
                ensure!(
                    !src.contains_key("GetObject") && !dst.contains_key("PutObject"),
                    "rclone copied objects on a re-check"
                );
                eprintln!(
                    "  run {run}: {} {:.2}s, {} MiB; {}",
                    rows[index].tool,
                    t.as_secs_f64(),
                    peak / 1024,
                    requests_line(&src, &dst, dst_conns, count)
                );
                rows[index].times.push(t);
                rows[index].peak_kib = Some(rows[index].peak_kib.unwrap_or(0).max(peak));
            }
            let src = connector(&wan.src.url, SRC_AK, SRC_SK)?;
            let dst = connector(&wan.dst.url, DST_AK, DST_SK)?;
            let started = Instant::now();
            let (a, b) = tokio::join!(
                count_all(&src, SRC_BUCKET, prefix),
                count_all(&dst, DST_BUCKET, prefix)
            );
            ensure!(a? == count && b? == count, "the listings differ");
            let t = started.elapsed();
            eprintln!("  run {run}: serial listings {:.2}s", t.as_secs_f64());
            rows[3].times.push(t);
        }
        if self.args.oms_only {
            rows.truncate(1);
        }
        if self.args.kill_midway {
            let setup = OmsSetup {
                src_url: &wan.src.url,
                dst_url: &wan.dst.url,
                ..self.setup("oms-recheck")
            };
            rows.push(self.recheck_killed_midway(name, count, &setup).await?);
        }
        Ok(rows)
    }

    /// The re-check again, omsd killed (SIGKILL) once half the keys are checked and started
    /// again on the same database: the task must end with every key checked once, by the
    /// checkpoint, whatever the kill cut.
    async fn recheck_killed_midway(
        &self,
        name: &str,
        count: u64,
        setup: &OmsSetup<'_>,
    ) -> anyhow::Result<Row> {
        let mut oms = Oms::start(setup).await?;
        let started = Instant::now();
        let id = oms
            .create_task(&prefix_task(crate::listing::PREFIX))
            .await?;
        let checked_at_kill = loop {
            let task = oms.task(id).await?;
            let checked = task["skipped_num"].as_u64().unwrap_or(0);
            ensure!(
                !matches!(task["status"].as_i64(), Some(4 | 5)),
                "the task ended before half its keys were seen checked: {task}"
            );
            if checked >= count / 2 {
                break checked;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        oms.kill_and_restart(1).await?;
        let restarted = Instant::now();
        let task = oms.wait_task(id).await?;
        let after = restarted.elapsed();
        let exact = ["skipped_num", "total_num"]
            .iter()
            .all(|field| task[field].as_u64() == Some(count))
            && task["successful_num"].as_u64() == Some(0)
            && task["failed_num"].as_u64() == Some(0);
        ensure!(exact, "after the kill the counts are not exact: {task}");
        // The restarted process's.
        let peak = peak_rss_kib(oms.pid());
        let note = format!(
            "killed with {checked_at_kill} of {count} seen checked; restarted, done {:.1} s later (the lease of the killed run expires first), every count exact",
            after.as_secs_f64()
        );
        eprintln!("  OMS killed midway: {note}");
        Ok(Row {
            workload: name.to_owned(),
            tool: "OMS, killed midway and restarted".into(),
            times: vec![started.elapsed()],
            objects: count,
            bytes: 0,
            peak_kib: Some(peak),
            note: Some(note),
            remark: None,
        })
    }
}
