//! `fleet@wan`: a fleet across a WAN. One PREFIX task group of small objects through the
//! latency proxies, run by 1, 2, 4… `omsd worker` processes beside one `omsd api`, all on one
//! PostgreSQL database, each worker with the same objects in flight. On loopback the fleet
//! cannot scale on one machine (every worker competes for the same two cores with the servers
//! and the database); across tens of milliseconds each worker waits on round trips rather than
//! on the CPU, so adding workers adds throughput until the servers' CPU runs out. The bound of
//! each row is the latency bound of that many workers: workers × in flight ÷ (2 requests per
//! object × round trip).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};

use crate::procs::{
    DST_AK, DST_BUCKET, DST_SK, Oms, OmsSetup, SRC_AK, SRC_BUCKET, SRC_SK, cpu_secs, peak_rss_kib,
};
use crate::report::Row;
use crate::wan::Wan;
use crate::workloads::{Bench, Objects, count_all};

/// Tasks each worker runs at once; each task has `in_flight ÷ this` objects in flight.
const TASKS_PER_WORKER: usize = 2;

/// How long a group may take before the run is given up (a stalled fleet fails, not hangs).
const GROUP_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// The CPU seconds every `postgres` process on this machine has used so far (the server and
/// its backends; a backend that ended since is not counted, and the pools keep theirs open).
fn postgres_cpu() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .map(cpu_secs)
        .sum()
}

/// A database of its own on the PostgreSQL server of `url`, dropped with this.
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    fn create(admin: &str, name: &str) -> anyhow::Result<Self> {
        let (base, query) = admin.split_once('?').unwrap_or((admin, ""));
        // scheme://user:password@host:port, without the database path if there is one.
        let authority = base.find("://").map_or(0, |i| i + 3);
        let server = match base[authority..].find('/') {
            Some(slash) => &base[..authority + slash],
            None => base,
        };
        let url = if query.is_empty() {
            format!("{server}/{name}")
        } else {
            format!("{server}/{name}?{query}")
        };
        let database = Self {
            admin: admin.to_owned(),
            name: name.to_owned(),
            url,
        };
        database.psql(&format!("drop database if exists {name} with (force)"))?;
        database.psql(&format!("create database {name}"))?;
        Ok(database)
    }

    fn psql(&self, sql: &str) -> anyhow::Result<()> {
        let out = Command::new("psql")
            .args(["-q", "-X", &self.admin, "-c", sql])
            .output()
            .context("cannot run psql")?;
        if !out.status.success() {
            bail!("psql: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = self.psql(&format!(
            "drop database if exists {} with (force)",
            self.name
        ));
    }
}

/// What one run of the group measured.
struct Measured {
    time: Duration,
    /// CPU seconds of the workers (together), the API and PostgreSQL during the run.
    cpu: (f64, f64, f64),
    /// The largest peak memory of a worker, KiB.
    peak_kib: u64,
}

impl Bench<'_> {
    /// The fleet workload: for each number of workers, `runs` runs of one group on a fresh
    /// database, checked (every object copied once, none failed, all at the destination).
    pub(crate) async fn wan_fleet(
        &self,
        name: &str,
        objects: &Objects,
        one_way: Duration,
        database_url: &str,
        workers: &[usize],
    ) -> anyhow::Result<Vec<Row>> {
        let rtt = one_way * 2;
        // Whole tasks' worth: each of a worker's tasks gets an equal share.
        let in_flight = (self.args.fleet_in_flight / TASKS_PER_WORKER).max(1) * TASKS_PER_WORKER;
        let most = workers.iter().copied().max().unwrap_or(1);
        // Enough tasks that the last ones to start do not leave most workers idle at the end.
        let per_task = (objects.count() / (most * TASKS_PER_WORKER * 3) as u64).max(1);
        eprintln!(
            "{name}: {} objects, {} ms round trip, {in_flight} in flight per worker ({TASKS_PER_WORKER} tasks × {}), tasks of {per_task} objects",
            objects.count(),
            rtt.as_millis(),
            in_flight / TASKS_PER_WORKER
        );
        let wan = Wan::start(&self.src.url, &self.dst.url, one_way).await?;
        let mut rows = Vec::new();
        let mut first_rate = None;
        for &n in workers {
            let mut times = Vec::new();
            let (mut peak, mut cpu) = (0, (0.0, 0.0, 0.0));
            for run in 0..self.args.runs {
                wan.take(0);
                let m = self
                    .fleet_run(&wan, objects, database_url, n, in_flight, per_task)
                    .await?;
                eprintln!(
                    "  run {run}: {n} workers {:.2}s; CPU: workers {:.1} s, API {:.1} s, PostgreSQL {:.1} s; {}",
                    m.time.as_secs_f64(),
                    m.cpu.0,
                    m.cpu.1,
                    m.cpu.2,
                    wan.take(objects.count())
                );
                times.push(m.time);
                peak = peak.max(m.peak_kib);
                cpu = (cpu.0 + m.cpu.0, cpu.1 + m.cpu.1, cpu.2 + m.cpu.2);
            }
            let mut row = Row {
                workload: name.to_owned(),
                tool: format!("OMS, {n} worker{}", if n == 1 { "" } else { "s" }),
                times,
                objects: objects.count(),
                bytes: objects.bytes(),
                peak_kib: Some(peak),
                note: None,
                remark: None,
            };
            let rate = row.objects_per_sec();
            let (first_n, first) = *first_rate.get_or_insert((n, rate));
            let relative = if first_n == 1 {
                "one worker".to_owned()
            } else {
                format!("{first_n} workers")
            };
            let bound = rtt.mul_f64(2.0 * objects.count() as f64 / (n * in_flight) as f64);
            let per_object =
                |secs: f64| 1000.0 * secs / (self.args.runs.max(1) as f64 * objects.count() as f64);
            row.remark = Some(format!(
                "{:.2}× {relative}; {:.2}× the latency bound ({:.1} s); CPU ms/object: workers {:.2}, API {:.2}, PostgreSQL {:.2}",
                rate / first,
                bound.as_secs_f64() / row.median().as_secs_f64(),
                bound.as_secs_f64(),
                per_object(cpu.0),
                per_object(cpu.1),
                per_object(cpu.2),
            ));
            rows.push(row);
        }
        Ok(rows)
    }

    /// One group run by `n` workers on a database of its own.
    async fn fleet_run(
        &self,
        wan: &Wan,
        objects: &Objects,
        database_url: &str,
        n: usize,
        in_flight: usize,
        per_task: u64,
    ) -> anyhow::Result<Measured> {
        self.dst.empty(DST_BUCKET)?;
        let database = Database::create(
            database_url,
            &format!("oms_bench_fleet_{}", std::process::id()),
        )?;
        let worker = format!(
            "max_tasks = {TASKS_PER_WORKER}\npoll_interval_ms = 250\ngroup_task_max_objects = {per_task}"
        );
        let setup = OmsSetup {
            src_url: &wan.src.url,
            dst_url: &wan.dst.url,
            concurrency: in_flight / TASKS_PER_WORKER,
            database_url: Some(&database.url),
            worker: &worker,
            command: "api",
            // The group's status is polled from the API: read it from the database every time,
            // not up to a second late from the API's cache of what other processes wrote.
            read_cache_ms: Some(0),
            ..self.setup("oms-fleet")
        };
        let api = Oms::start(&setup).await?;
        let workers = (1..=n)
            .map(|i| api.start_worker(i))
            .collect::<anyhow::Result<Vec<_>>>()?;
        // The workers connect to the database and start claiming; their start is not the
        // group's time.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let worker_cpu = || -> f64 { workers.iter().map(|w| cpu_secs(w.0.id())).sum() };
        let before = (worker_cpu(), cpu_secs(api.pid()), postgres_cpu());
        let servers = self.servers_cpu();
        let own = cpu_secs(std::process::id());
        let started = Instant::now();
        let created = api
            .call(
                reqwest::Method::POST,
                "/taskgroups",
                Some(&json!({
                    "task_type": "PREFIX",
                    "src_node": {"cloud_type": "AWS", "region": "bench-src", "ak": SRC_AK,
                                 "sk": SRC_SK, "bucket": SRC_BUCKET,
                                 "object_key": [objects.prefix]},
                    "dst_node": {"ak": DST_AK, "sk": DST_SK, "region": "bench-dst",
                                 "bucket": DST_BUCKET},
                })),
            )
            .await?;
        let id = created["group_id"].as_str().context("no group id")?;
        let group: Value = loop {
            ensure!(
                started.elapsed() < GROUP_DEADLINE,
                "the group did not complete in {} s",
                GROUP_DEADLINE.as_secs()
            );
            let group = api
                .call(reqwest::Method::GET, &format!("/taskgroups/{id}"), None)
                .await?;
            match group["status"].as_i64() {
                Some(6) => break group,
                Some(4 | 5) => bail!("the group failed: {group}"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let time = started.elapsed();
        let cpu = (
            worker_cpu() - before.0,
            cpu_secs(api.pid()) - before.1,
            postgres_cpu() - before.2,
        );
        eprintln!(
            "    {}; the proxies and this client used {:.1} s",
            self.servers_cpu_since(servers),
            cpu_secs(std::process::id()) - own
        );
        let peak_kib = workers
            .iter()
            .map(|w| peak_rss_kib(w.0.id()))
            .max()
            .unwrap_or(0);
        ensure!(
            group["success_num"].as_u64() == Some(objects.count())
                && group["fail_num"].as_u64() == Some(0),
            "the group did not copy every object exactly once: {group}"
        );
        drop(workers);
        drop(api);
        let copied = count_all(&self.dst_connector()?, DST_BUCKET, objects.prefix).await?;
        ensure!(
            copied == objects.count(),
            "the destination holds {copied} objects"
        );
        Ok(Measured {
            time,
            cpu,
            peak_kib,
        })
    }
}
