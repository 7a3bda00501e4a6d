//! The OMS benchmark: OMS and rclone copy the same objects between the same two S3 servers
//! (s3s-fs processes on 127.0.0.1), alternately, several times each, and a table of median
//! times, rates and peak memory is printed beside the servers' own limit (a bare parallel
//! GET → PUT of the same objects at the same concurrency). See `docs/benchmark.md`.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool that prints its results"
)]

mod fleet;
mod listing;
mod origin;
mod procs;
mod proxy;
mod report;
mod wan;
mod workloads;

use std::path::PathBuf;

use clap::Parser;

/// Benchmarks OMS against rclone.
#[derive(Debug, Parser)]
struct Args {
    /// The omsd binary (build it with `cargo build --release -p omsd`).
    #[arg(long, default_value = "target/release/omsd")]
    omsd: PathBuf,
    /// The s3s-fs binary (`cargo install s3s-fs --version 0.14.1 --features binary`).
    #[arg(long, default_value = "s3s-fs")]
    s3s_fs: PathBuf,
    /// The rclone binary OMS is compared with.
    #[arg(long, default_value = "rclone")]
    rclone: PathBuf,
    /// The wrk binary (workload f).
    #[arg(long, default_value = "wrk")]
    wrk: PathBuf,
    /// Where servers keep their buckets (emptied first).
    #[arg(long, default_value = "target/bench-work")]
    work_dir: PathBuf,
    /// Runs per tool and workload.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Objects in flight (OMS `worker.object_concurrency`, rclone `--transfers`).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Workloads to run, among a,b,c,d,e,f and a@wan,c@wan,d@wan,fleet@wan (through a latency
    /// proxy).
    #[arg(long, default_value = "a,b,c,d,e,f,a@wan,c@wan,d@wan,fleet@wan")]
    workloads: String,
    /// The one-way latency the proxy of the @wan workloads adds, in milliseconds (each way, so
    /// a round trip is twice this).
    #[arg(long, default_value_t = 25)]
    latency_ms: u64,
    /// Objects of the re-check across the WAN (d@wan), on the synthetic listing server.
    #[arg(long, default_value_t = 50_000)]
    recheck_objects: u64,
    /// d@wan runs OMS alone (no rclone, no serial listings): for re-checks of millions of keys,
    /// where those would take hours.
    #[arg(long)]
    oms_only: bool,
    /// d@wan also kills omsd (SIGKILL) once half the keys are checked, starts it again on the
    /// same database, and checks that the task ends with every count exact.
    #[arg(long)]
    kill_midway: bool,
    /// The PostgreSQL server of the fleet (fleet@wan): a URL whose role may create databases;
    /// each run gets a database of its own, dropped after. Without it fleet@wan is left out.
    #[arg(long, env = "OMS_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Objects of the fleet's task group (fleet@wan), 4 KiB each.
    #[arg(long, default_value_t = 6_000)]
    fleet_objects: usize,
    /// Numbers of `omsd worker` processes the fleet is run with, one after another.
    #[arg(long, default_value = "1,2,4")]
    fleet_workers: String,
    /// Objects in flight per worker of the fleet (2 tasks at once, half of them each).
    #[arg(long, default_value_t = 16)]
    fleet_in_flight: usize,
    /// Objects of the large task of workload e.
    #[arg(long, default_value_t = 1_000_000)]
    memory_objects: usize,
    /// Tiny sizes and one run: checks that the benchmark works, measures nothing.
    #[arg(long)]
    smoke: bool,
    /// Leave the work folder (buckets, omsd's data and log of the last run) in place.
    #[arg(long)]
    keep_work_dir: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.smoke {
        args.runs = 1;
        args.memory_objects = 3000;
    }
    let rows = workloads::run_all(&args).await?;
    println!("{}", report::table(&rows));
    Ok(())
}
