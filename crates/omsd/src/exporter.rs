//! Prometheus metrics of this process: the exporter behind the `metrics` facade (every crate
//! records under the names of `oms_core::metrics`), served as text on `GET /metrics` at
//! `[metrics] listen`, apart from the API (so a worker-only process has them too, and the API's
//! authentication does not apply to scrapers). The gauges read from the database — tasks and
//! groups by status, the connection pool — are refreshed at each scrape.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics::gauge;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use oms_core::metrics::{DB_CONNECTIONS, DB_CONNECTIONS_MAX, GROUPS, SECONDS_BUCKETS, TASKS};
use oms_core::status::{GroupStatus, TaskStatus};
use oms_db::Db;
use tokio_util::sync::CancellationToken;

/// A bound metrics address with the installed exporter, not serving yet.
#[derive(Debug)]
pub(crate) struct Exporter {
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
}

impl Exporter {
    /// Binds `listen` and installs the exporter as this process's metrics recorder (once per
    /// process: a second install fails).
    pub(crate) async fn bind(listen: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot serve metrics on {listen}"))?;
        let handle = PrometheusBuilder::new()
            .set_buckets(SECONDS_BUCKETS)
            .context("histogram buckets")?
            .install_recorder()
            .context("cannot install the metrics recorder")?;
        oms_core::metrics::describe();
        Ok(Self { listener, handle })
    }

    /// Where it listens.
    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `GET /metrics` until `shutdown`.
    pub(crate) async fn serve(self, db: Db, shutdown: CancellationToken) -> anyhow::Result<()> {
        let router = Router::new()
            .route("/metrics", get(scrape))
            .with_state((self.handle, db));
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .context("the metrics server failed")
    }
}

/// One scrape: the database's gauges read now, then every metric as text.
async fn scrape(State((handle, db)): State<(PrometheusHandle, Db)>) -> impl IntoResponse {
    match db.status_counts().await {
        Ok(counts) => {
            for status in TaskStatus::ALL {
                let n = counts
                    .tasks
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map_or(0, |(_, n)| *n);
                gauge!(TASKS, "status" => status.label()).set(n as f64);
            }
            for status in GroupStatus::ALL {
                let n = counts
                    .groups
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map_or(0, |(_, n)| *n);
                gauge!(GROUPS, "status" => status.label()).set(n as f64);
            }
        }
        // The last values stay; the scrape still answers with everything else.
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count tasks by status"),
    }
    let pool = db.pool_use();
    gauge!(DB_CONNECTIONS, "state" => "idle").set(f64::from(pool.idle));
    gauge!(DB_CONNECTIONS, "state" => "in_use").set(f64::from(pool.in_use));
    gauge!(DB_CONNECTIONS_MAX).set(f64::from(pool.max));
    handle.run_upkeep();
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
}
