//! The workloads: (a) many small objects, (b) a few large ones, (c) a log-uniform mix,
//! (d) re-checking (a) onto a full destination, (e) memory over a very long URL list, (f) the
//! API under load while (c) runs.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures::StreamExt as _;
use oms_storage::{ByteStream, CompletedPart, Payload, WriteOptions, WriteStore};
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use serde_json::json;

/// A body of `size` bytes sent without Content-MD5 (the peers send none either).
fn payload(body: ByteStream, size: u64) -> Payload {
    Payload {
        body,
        size,
        content_md5: None,
    }
}

use crate::Args;
use crate::origin;
use crate::procs::{
    DST_AK, DST_BUCKET, DST_SK, Oms, OmsSetup, Rclone, S3, SRC_AK, SRC_BUCKET, SRC_SK,
    peak_rss_kib, prefix_task, rclone_copy,
};
use crate::report::Row;

const KIB: u64 = 1024;
pub(crate) const MIB: u64 = 1024 * 1024;
/// OMS's defaults (`worker.multipart_threshold_bytes`, `part_size_bytes`, `part_concurrency`),
/// which rclone is given too.
pub(crate) const MULTIPART_THRESHOLD: u64 = 64 * MIB;
pub(crate) const PART_SIZE: u64 = 16 * MIB;
pub(crate) const PART_CONCURRENCY: usize = 4;

/// The CPU seconds this process has used (the limit's client).
fn own_cpu() -> f64 {
    crate::procs::cpu_secs(std::process::id())
}

/// One object copied as a bare multipart upload (see [`Bench::limit`]).
async fn copy_in_parts(
    src: &dyn WriteStore,
    dst: &dyn WriteStore,
    key: &str,
    size: u64,
) -> anyhow::Result<()> {
    let upload = dst
        .create_multipart(DST_BUCKET, key, &WriteOptions::default())
        .await?;
    let parts: Vec<anyhow::Result<CompletedPart>> =
        futures::stream::iter((0..size.div_ceil(PART_SIZE)).map(|n| {
            let upload = &upload;
            async move {
                let range = n * PART_SIZE..size.min((n + 1) * PART_SIZE);
                let length = range.end - range.start;
                let download = src.get(SRC_BUCKET, key, Some(range), None).await?;
                let part_number = i32::try_from(n + 1)?;
                let payload = Payload {
                    body: download.body,
                    size: length,
                    content_md5: None,
                };
                let etag = dst
                    .upload_part(DST_BUCKET, key, upload, part_number, payload)
                    .await?
                    .etag
                    .unwrap_or_default();
                Ok(CompletedPart { part_number, etag })
            }
        }))
        .buffered(PART_CONCURRENCY)
        .collect()
        .await;
    let parts = parts.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    dst.complete_multipart(DST_BUCKET, key, &upload, &parts)
        .await?;
    Ok(())
}

/// The objects of a workload: key suffixes and sizes.
pub(crate) struct Objects {
    pub prefix: &'static str,
    pub sizes: Vec<u64>,
}

impl Objects {
    pub(crate) fn count(&self) -> u64 {
        self.sizes.len() as u64
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.sizes.iter().sum()
    }

    pub(crate) fn key(&self, i: usize) -> String {
        format!("{}{i:06}.bin", self.prefix)
    }

    /// Uploads the objects to the source server, 8 at a time. (Through S3, not as files in
    /// its folder: s3s-fs keeps the MD5 of what it receives, and would otherwise hash the
    /// whole file on every GET — even a ranged one — which no real store does.)
    async fn seed(&self, src: &S3) -> anyhow::Result<()> {
        let dir = src.root.join(SRC_BUCKET).join(self.prefix);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        let store = src.connector(SRC_AK, SRC_SK)?;
        let mut rng = StdRng::seed_from_u64(1);
        let mut block = vec![0_u8; usize::try_from(MIB)?];
        rng.fill(&mut block[..]);
        let block = bytes::Bytes::from(block);
        let results: Vec<anyhow::Result<()>> = futures::stream::iter(self.sizes.iter().enumerate())
            .map(|(i, size)| {
                let (store, block) = (store.clone(), block.clone());
                let key = self.key(i);
                let size = *size;
                async move {
                    // Every object differs: its index leads its first block.
                    let mut first = block.to_vec();
                    first[..8].copy_from_slice(&(i as u64).to_le_bytes());
                    let first = bytes::Bytes::from(first);
                    let chunk = block.len() as u64;
                    let chunks = (0..size.div_ceil(chunk)).map(move |n| {
                        let len = usize::try_from(chunk.min(size - n * chunk)).unwrap_or(0);
                        let source = if n == 0 { &first } else { &block };
                        Ok(source.slice(..len))
                    });
                    let body: ByteStream = Box::pin(futures::stream::iter(chunks));
                    store
                        .put(
                            SRC_BUCKET,
                            &key,
                            payload(body, size),
                            &WriteOptions::default(),
                        )
                        .await?;
                    Ok(())
                }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        results.into_iter().collect()
    }
}

pub(crate) struct Bench<'a> {
    pub args: &'a Args,
    pub src: S3,
    pub dst: S3,
}

/// Objects under `prefix` in `bucket`, listed page by page.
pub(crate) async fn count_all(
    store: &Arc<dyn WriteStore>,
    bucket: &str,
    prefix: &str,
) -> anyhow::Result<u64> {
    let mut count = 0;
    let mut after: Option<String> = None;
    loop {
        let page = store.list(bucket, prefix, after.as_deref(), 1000).await?;
        count += page.objects.len() as u64;
        match page.objects.last() {
            Some(last) if page.is_truncated => after = Some(last.key.clone()),
            _ => return Ok(count),
        }
    }
}

impl Bench<'_> {
    pub(crate) fn setup(&self, name: &str) -> OmsSetup<'_> {
        OmsSetup {
            bin: &self.args.omsd,
            dir: self.args.work_dir.join(name),
            src_url: &self.src.url,
            dst_url: &self.dst.url,
            concurrency: self.args.concurrency,
            read_cache_ms: None,
            database_url: None,
            worker: "",
            command: "all",
        }
    }

    pub(crate) fn dst_connector(&self) -> anyhow::Result<Arc<dyn WriteStore>> {
        self.dst.connector(DST_AK, DST_SK)
    }

    /// The CPU seconds the source and destination servers have used so far.
    pub(crate) fn servers_cpu(&self) -> (f64, f64) {
        (
            crate::procs::cpu_secs(self.src.pid()),
            crate::procs::cpu_secs(self.dst.pid()),
        )
    }

    /// The servers' CPU since `before`, in words.
    pub(crate) fn servers_cpu_since(&self, before: (f64, f64)) -> String {
        let (src, dst) = self.servers_cpu();
        format!(
            "servers used {:.1} s (source) and {:.1} s (destination) of CPU",
            src - before.0,
            dst - before.1
        )
    }

    /// One OMS run of a prefix task onto an empty destination: time and peak memory.
    async fn oms_copy(&self, objects: &Objects) -> anyhow::Result<(Duration, u64)> {
        self.dst.empty(DST_BUCKET)?;
        let oms = Oms::start(&self.setup("oms")).await?;
        let cpu = crate::procs::cpu_secs(oms.pid());
        let (elapsed, task) = oms.run_task(&prefix_task(objects.prefix)).await?;
        let peak = peak_rss_kib(oms.pid());
        eprintln!(
            "    omsd used {:.2} s of CPU",
            crate::procs::cpu_secs(oms.pid()) - cpu
        );
        ensure!(
            task["successful_num"].as_u64() == Some(objects.count()),
            "OMS copied {} of {} objects",
            task["successful_num"],
            objects.count()
        );
        let copied = count_all(&self.dst_connector()?, DST_BUCKET, objects.prefix).await?;
        ensure!(
            copied == objects.count(),
            "the destination holds {copied} objects"
        );
        Ok((elapsed, peak))
    }

    /// One rclone run onto an empty destination.
    async fn rclone_copy(&self, objects: &Objects) -> anyhow::Result<(Duration, u64)> {
        self.dst.empty(DST_BUCKET)?;
        let measured = rclone_copy(
            &self.args.rclone,
            (&self.src.url, &self.dst.url),
            objects.prefix,
            Rclone::Like(self.args.concurrency),
        )?;
        let copied = count_all(&self.dst_connector()?, DST_BUCKET, objects.prefix).await?;
        ensure!(copied == objects.count(), "rclone left {copied} objects");
        Ok(measured)
    }

    /// The servers' limit: every object GET → PUT (streamed, one request each), at the same
    /// concurrency, with the engine's S3 client and nothing else. With `in_parts`, objects from
    /// OMS's multipart threshold up go as OMS sends them instead: ranged GETs of OMS's part size
    /// into a multipart upload, OMS's number of parts at once, then the completion (no hashing,
    /// no database, no checks).
    async fn limit(&self, objects: &Objects, in_parts: bool) -> anyhow::Result<Duration> {
        self.dst.empty(DST_BUCKET)?;
        let src = self.src.connector(SRC_AK, SRC_SK)?;
        let dst = self.dst_connector()?;
        let started = Instant::now();
        let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..objects.sizes.len())
            .map(|i| {
                let (src, dst) = (src.clone(), dst.clone());
                let key = objects.key(i);
                let size = objects.sizes[i];
                async move {
                    if in_parts && size >= MULTIPART_THRESHOLD {
                        return copy_in_parts(&*src, &*dst, &key, size).await;
                    }
                    let download = src.get(SRC_BUCKET, &key, None, None).await?;
                    let size = download.content_length;
                    dst.put(
                        DST_BUCKET,
                        &key,
                        payload(download.body, size),
                        &WriteOptions::default(),
                    )
                    .await?;
                    Ok(())
                }
            })
            .buffer_unordered(self.args.concurrency)
            .collect()
            .await;
        let elapsed = started.elapsed();
        for result in results {
            result?;
        }
        Ok(elapsed)
    }

    /// OMS, rclone and the limit, alternately, `runs` times each.
    async fn copy_workload(&self, name: &str, objects: &Objects) -> anyhow::Result<Vec<Row>> {
        eprintln!(
            "{name}: {} objects, {:.1} MB",
            objects.count(),
            objects.bytes() as f64 / 1e6
        );
        let in_parts = objects.sizes.iter().any(|&s| s >= MULTIPART_THRESHOLD);
        let tools: &[&str] = if in_parts {
            &["OMS", "rclone", "limit", "limit (OMS's parts)"]
        } else {
            &["OMS", "rclone", "limit"]
        };
        let mut rows: Vec<Row> = tools
            .iter()
            .map(|tool| Row {
                workload: name.to_owned(),
                tool: (*tool).to_owned(),
                times: Vec::new(),
                objects: objects.count(),
                bytes: objects.bytes(),
                peak_kib: None,
                note: None,
                remark: None,
            })
            .collect();
        for run in 0..self.args.runs {
            let servers = self.servers_cpu();
            let (t, peak) = self.oms_copy(objects).await?;
            eprintln!(
                "  run {run}: OMS {:.2}s, {} MiB; {}",
                t.as_secs_f64(),
                peak / 1024,
                self.servers_cpu_since(servers)
            );
            rows[0].times.push(t);
            rows[0].peak_kib = Some(rows[0].peak_kib.unwrap_or(0).max(peak));
            let servers = self.servers_cpu();
            let (t, peak) = self.rclone_copy(objects).await?;
            eprintln!(
                "  run {run}: rclone {:.2}s, {} MiB; {}",
                t.as_secs_f64(),
                peak / 1024,
                self.servers_cpu_since(servers)
            );
            rows[1].times.push(t);
            rows[1].peak_kib = Some(rows[1].peak_kib.unwrap_or(0).max(peak));
            // The limit, and where objects go in parts, the limit in OMS's parts (rows 2 and 3).
            for (row, parts, label) in [(2, false, "limit"), (3, true, "limit in OMS's parts")] {
                if parts && !in_parts {
                    continue;
                }
                let (servers, client) = (self.servers_cpu(), own_cpu());
                let t = self.limit(objects, parts).await?;
                eprintln!(
                    "  run {run}: {label} {:.2}s; {}; the client {:.1} s",
                    t.as_secs_f64(),
                    self.servers_cpu_since(servers),
                    own_cpu() - client
                );
                rows[row].times.push(t);
            }
        }
        Ok(rows)
    }

    /// The servers' limit for a re-check: both listings, side by side, as fast as they come.
    async fn list_limit(&self, objects: &Objects) -> anyhow::Result<Duration> {
        let src = self.src.connector(SRC_AK, SRC_SK)?;
        let dst = self.dst_connector()?;
        let started = Instant::now();
        let (a, b) = tokio::join!(
            count_all(&src, SRC_BUCKET, objects.prefix),
            count_all(&dst, DST_BUCKET, objects.prefix)
        );
        ensure!(
            a? == objects.count() && b? == objects.count(),
            "listings differ"
        );
        Ok(started.elapsed())
    }

    /// (d): each tool copies (a), then is timed copying it again: everything is skipped.
    async fn recheck(&self, name: &str, objects: &Objects) -> anyhow::Result<Vec<Row>> {
        eprintln!(
            "{name}: {} objects already at the destination",
            objects.count()
        );
        let mut oms_row = Row {
            workload: name.to_owned(),
            tool: "OMS".into(),
            times: Vec::new(),
            objects: objects.count(),
            bytes: 0,
            peak_kib: None,
            note: None,
            remark: None,
        };
        let mut rclone_row = Row {
            tool: "rclone".into(),
            ..oms_row.clone()
        };
        let mut limit_row = Row {
            tool: "limit".into(),
            ..oms_row.clone()
        };
        for run in 0..self.args.runs {
            self.oms_copy(objects).await?;
            let oms = Oms::start(&self.setup("oms")).await?;
            let cpu = crate::procs::cpu_secs(oms.pid());
            let (t, task) = oms.run_task(&prefix_task(objects.prefix)).await?;
            ensure!(
                task["skipped_num"].as_u64() == Some(objects.count()),
                "OMS re-copied objects: {task}"
            );
            let peak = peak_rss_kib(oms.pid());
            let cpu = crate::procs::cpu_secs(oms.pid()) - cpu;
            drop(oms);
            eprintln!(
                "  run {run}: OMS {:.2}s, omsd used {cpu:.2} s of CPU",
                t.as_secs_f64()
            );
            oms_row.times.push(t);
            let t = self.list_limit(objects).await?;
            eprintln!("  run {run}: limit (both listings) {:.2}s", t.as_secs_f64());
            limit_row.times.push(t);
            oms_row.peak_kib = Some(oms_row.peak_kib.unwrap_or(0).max(peak));
            self.rclone_copy(objects).await?;
            let (t, peak) = rclone_copy(
                &self.args.rclone,
                (&self.src.url, &self.dst.url),
                objects.prefix,
                Rclone::Like(self.args.concurrency),
            )?;
            eprintln!("  run {run}: rclone {:.2}s", t.as_secs_f64());
            rclone_row.times.push(t);
            rclone_row.peak_kib = Some(rclone_row.peak_kib.unwrap_or(0).max(peak));
        }
        Ok(vec![oms_row, rclone_row, limit_row])
    }

    /// (e): peak memory of URL-list tasks of `small` and of `large` lines.
    async fn memory(&self, small: usize, large: usize) -> anyhow::Result<Vec<Row>> {
        let origin = origin::start().await?;
        let dst = self.dst_connector()?;
        std::fs::create_dir_all(self.dst.root.join("lists"))?;
        let mut rows = Vec::new();
        for n in [small, large] {
            eprintln!("e: a URL list of {n} lines");
            let mut text = String::with_capacity(n * 48);
            for i in 0..n {
                text.push_str(&format!("{origin}/o/{i}\te/{i:07}.bin\n"));
            }
            let list_key = format!("e-{n}.txt");
            let bytes = bytes::Bytes::from(text.into_bytes());
            let size = bytes.len() as u64;
            let body: ByteStream = Box::pin(futures::stream::once(async move { Ok(bytes) }));
            let options = WriteOptions {
                headers: oms_storage::ObjectHeaders {
                    content_type: Some("text/plain".into()),
                    ..Default::default()
                },
                storage_class: None,
                tags: Vec::new(),
                kms: None,
            };
            dst.put("lists", &list_key, payload(body, size), &options)
                .await?;
            self.dst.empty(DST_BUCKET)?;
            let oms = Oms::start(&self.setup("oms")).await?;
            let task = json!({
                "task_type": "url_list",
                "src_node": {"cloud_type": "URLSource",
                             "list_file": {"list_file_key": list_key, "obs_bucket": "lists"}},
                "dst_node": {"ak": DST_AK, "sk": DST_SK, "region": "bench-dst", "bucket": DST_BUCKET},
            });
            let (t, done) = oms.run_task(&task).await?;
            ensure!(
                done["successful_num"].as_u64() == Some(n as u64),
                "the URL-list task copied {} of {n}",
                done["successful_num"]
            );
            let peak = peak_rss_kib(oms.pid());
            eprintln!("  {:.1}s, {} MiB", t.as_secs_f64(), peak / 1024);
            rows.push(Row {
                workload: format!("e: URL list of {n} × 1 KiB (memory)"),
                tool: "OMS".into(),
                times: vec![t],
                objects: n as u64,
                bytes: (n * origin::BODY_BYTES) as u64,
                peak_kib: Some(peak),
                note: None,
                remark: None,
            });
        }
        self.dst.empty(DST_BUCKET)?;
        Ok(rows)
    }

    /// (f): `GET /tasks` with `stored` tasks, 64 connections, while (c) runs.
    /// Workload f, with omsd's response cache on (its default) or off.
    async fn api_load(
        &self,
        stored: usize,
        objects: &Objects,
        cached: bool,
    ) -> anyhow::Result<Row> {
        let cache = if cached { "" } else { ", response cache off" };
        eprintln!("f: GET /tasks with {stored} tasks stored, 64 connections, while c runs{cache}");
        self.dst.empty(DST_BUCKET)?;
        let setup = OmsSetup {
            read_cache_ms: (!cached).then_some(0),
            ..self.setup("oms")
        };
        let oms = Oms::start(&setup).await?;
        for _ in 0..stored {
            let id = oms.create_task(&prefix_task("nothing-here/")).await?;
            let _ = oms.stop_task(id).await;
        }
        let duration = if self.args.smoke { 3 } else { 15 };
        let wrk = Command::new(&self.args.wrk)
            .args(["-t2", "-c64", &format!("-d{duration}s"), "--latency"])
            .args(["-H", &format!("X-Auth-Token: {}", oms.token)])
            .arg(format!("{}/tasks", oms.base))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", self.args.wrk.display()))?;
        let mix_task = prefix_task(objects.prefix);
        let copy = oms.run_task(&mix_task);
        let wrk = tokio::task::spawn_blocking(move || wrk.wait_with_output());
        let (copied, output) = tokio::join!(copy, wrk);
        let (copy_time, _) = copied?;
        let output = output??;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let (rps, p99) = parse_wrk(&text).with_context(|| format!("wrk said: {text}"))?;
        let peak = peak_rss_kib(oms.pid());
        Ok(Row {
            workload: format!("f: GET /tasks ({stored} stored, 64 conns) while c runs{cache}"),
            tool: "OMS".into(),
            times: vec![Duration::from_secs(duration)],
            objects: 0,
            bytes: 0,
            peak_kib: Some(peak),
            note: Some(format!(
                "{rps:.0} req/s, p99 {p99:.1} ms (c took {:.1}s)",
                copy_time.as_secs_f64()
            )),
            remark: None,
        })
    }
}

/// Requests per second and the 99th percentile latency (ms) of wrk's `--latency` output.
fn parse_wrk(text: &str) -> anyhow::Result<(f64, f64)> {
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .context("no Requests/sec")?
        .trim()
        .parse()?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .context("no 99% latency")?
        .trim();
    let ms = if let Some(v) = p99.strip_suffix("us") {
        v.parse::<f64>()? / 1000.0
    } else if let Some(v) = p99.strip_suffix("ms") {
        v.parse()?
    } else if let Some(v) = p99.strip_suffix('s') {
        v.parse::<f64>()? * 1000.0
    } else {
        bail!("unknown latency unit in '{p99}'")
    };
    Ok((rps, ms))
}

fn log_uniform_sizes(n: usize, min: u64, max: u64) -> Vec<u64> {
    let mut rng = StdRng::seed_from_u64(7);
    let (lo, hi) = ((min as f64).ln(), (max as f64).ln());
    (0..n)
        .map(|_| rng.random_range(lo..hi).exp().round() as u64)
        .collect()
}

/// Runs the selected workloads; returns the table's rows.
pub(crate) async fn run_all(args: &Args) -> anyhow::Result<Vec<Row>> {
    let work = &args.work_dir;
    if work.exists() {
        std::fs::remove_dir_all(work)?;
    }
    std::fs::create_dir_all(work)?;
    let src = S3::start(&args.s3s_fs, work.join("src"), SRC_AK, SRC_SK).await?;
    let dst = S3::start(&args.s3s_fs, work.join("dst"), DST_AK, DST_SK).await?;
    std::fs::create_dir_all(src.root.join(SRC_BUCKET))?;
    dst.empty(DST_BUCKET)?;
    let bench = Bench { args, src, dst };
    let wanted = |w: &str| args.workloads.split(',').any(|x| x.trim() == w);
    let smoke = args.smoke;
    let small = Objects {
        prefix: "a/",
        sizes: vec![4 * KIB; if smoke { 300 } else { 10_000 }],
    };
    let large = Objects {
        prefix: "b/",
        sizes: if smoke {
            vec![20 * MIB; 2]
        } else {
            vec![256 * MIB; 16]
        },
    };
    let mix = Objects {
        prefix: "c/",
        sizes: if smoke {
            log_uniform_sizes(40, KIB, 16 * MIB)
        } else {
            log_uniform_sizes(1000, KIB, 64 * MIB)
        },
    };
    let mut rows = Vec::new();
    if wanted("a") || wanted("d") {
        small.seed(&bench.src).await?;
    }
    if wanted("a") {
        let name = format!("a: {} × 4 KiB", small.count());
        rows.extend(bench.copy_workload(&name, &small).await?);
    }
    if wanted("b") {
        large.seed(&bench.src).await?;
        let name = format!("b: {} × {} MiB", large.count(), large.sizes[0] / MIB);
        rows.extend(bench.copy_workload(&name, &large).await?);
        std::fs::remove_dir_all(bench.src.root.join(SRC_BUCKET).join(large.prefix))?;
    }
    if wanted("c") || wanted("f") {
        mix.seed(&bench.src).await?;
    }
    if wanted("c") {
        let name = format!("c: {} mixed, 1 KiB–64 MiB log-uniform", mix.count());
        rows.extend(bench.copy_workload(&name, &mix).await?);
    }
    let one_way = Duration::from_millis(args.latency_ms);
    if wanted("a@wan") {
        if !wanted("a") && !wanted("d") {
            small.seed(&bench.src).await?;
        }
        let name = format!("a@wan: {} × 4 KiB", small.count());
        rows.extend(bench.wan_copy(&name, &small, one_way).await?);
    }
    if wanted("c@wan") {
        if !wanted("c") && !wanted("f") {
            mix.seed(&bench.src).await?;
        }
        let name = format!("c@wan: {} mixed, 1 KiB–64 MiB", mix.count());
        rows.extend(bench.wan_copy(&name, &mix, one_way).await?);
    }
    if wanted("d") {
        let name = format!("d: re-check {} × 4 KiB", small.count());
        rows.extend(bench.recheck(&name, &small).await?);
    }
    if wanted("d@wan") {
        let count = if smoke { 5_000 } else { args.recheck_objects };
        let name = format!("d@wan: re-check {count} in one prefix");
        rows.extend(bench.wan_recheck(&name, count, one_way).await?);
    }
    if wanted("fleet@wan") {
        match &args.database_url {
            Some(url) => {
                let fleet = Objects {
                    prefix: "fleet/",
                    sizes: vec![4 * KIB; if smoke { 200 } else { args.fleet_objects }],
                };
                fleet.seed(&bench.src).await?;
                let workers = args
                    .fleet_workers
                    .split(',')
                    .map(|n| n.trim().parse::<usize>())
                    .collect::<Result<Vec<_>, _>>()
                    .context("--fleet-workers: numbers separated by commas")?;
                let name = format!("fleet@wan: a group of {} × 4 KiB", fleet.count());
                rows.extend(
                    bench
                        .wan_fleet(&name, &fleet, one_way, url, &workers)
                        .await?,
                );
                std::fs::remove_dir_all(bench.src.root.join(SRC_BUCKET).join(fleet.prefix))?;
            }
            None => eprintln!(
                "fleet@wan left out: it needs a PostgreSQL server (--database-url or OMS_BENCH_DATABASE_URL)"
            ),
        }
    }
    if wanted("e") {
        let small_list = if smoke { 300 } else { 10_000 };
        rows.extend(bench.memory(small_list, args.memory_objects).await?);
    }
    if wanted("f") {
        let stored = if smoke { 100 } else { 1000 };
        rows.push(bench.api_load(stored, &mix, true).await?);
        rows.push(bench.api_load(stored, &mix, false).await?);
    }
    if !args.keep_work_dir {
        bench.dst.empty(DST_BUCKET)?;
        let _ = std::fs::remove_dir_all(work);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_is_read() {
        let text = "Running 10s test\n  Latency Distribution\n     50%    1.20ms\n     99%  850.00us\n  12345 requests in 10.00s\nRequests/sec:   1234.50\n";
        assert_eq!(parse_wrk(text).unwrap(), (1234.5, 0.85));
    }

    #[test]
    fn sizes_are_log_uniform_within_bounds() {
        let sizes = log_uniform_sizes(1000, KIB, 64 * MIB);
        assert!(sizes.iter().all(|s| (KIB..=64 * MIB).contains(s)));
        let small = sizes.iter().filter(|s| **s < MIB).count();
        assert!((500..700).contains(&small), "{small} below 1 MiB");
    }
}
