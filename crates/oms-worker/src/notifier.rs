//! Webhook notifications, the self-hosted stand-in for SMN: the worker delivers what the
//! outbox holds (a task or group that completed or failed; the row is written with the status
//! change, see `oms_db::Notification`) to the receivers the operator configured for the
//! topic of its `smn_config`, when the event meets one of its `trigger_conditions`.
//!
//! A delivery is a POST of a JSON body signed with HMAC-SHA256 over the body under the
//! receiver's secret (`X-OMS-Signature: sha256=<hex>`), carrying the event id
//! (`X-OMS-Event-Id`) that receivers deduplicate by. Any answer but 2xx is tried again with
//! backoff, up to [`MAX_ATTEMPTS`]; the outcome shows as `smn_info.notify_result` and
//! `notify_error_message`.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use oms_core::ids::{GroupId, TaskId};
use oms_core::model::ObjectCounters;
use oms_core::spec::{SmnSpec, SmnTrigger};
use oms_core::time::now_ms;
use oms_db::{Db, DbError, Delivery, Notification, Subject, Trigger};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::WorkerConfig;

/// Deliveries of one notification before its error stands.
pub(crate) const MAX_ATTEMPTS: i64 = 8;

/// The longest wait for a receiver's answer.
const RECEIVER_TIMEOUT: Duration = Duration::from_secs(10);

/// A webhook receiver of a topic.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The `smn_config.topic_urn` it receives (`*`: every topic).
    pub topic_urn: String,
    /// The only project whose events it receives (`None`: any project's, for its topic).
    pub project_id: Option<String>,
    /// Where the POST goes.
    pub url: String,
    /// The HMAC-SHA256 key of the `X-OMS-Signature` header.
    pub secret: SecretString,
}

/// Delivers due notifications until `shutdown`, polling every [`WorkerConfig::poll_interval`].
pub(crate) async fn run(db: Db, config: Arc<WorkerConfig>, shutdown: CancellationToken) {
    let client = match reqwest::Client::builder()
        .timeout(RECEIVER_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "webhook client cannot be built; no notification is sent");
            return;
        }
    };
    // A claim outlives a delivery (each receiver answers within RECEIVER_TIMEOUT), and comes
    // back to the others like a task's lease when its worker dies.
    let claim = config.lease.max(RECEIVER_TIMEOUT * 3);
    let claim_ms = i64::try_from(claim.as_millis()).unwrap_or(i64::MAX);
    loop {
        match db.claim_notification(&config.worker_id, claim_ms).await {
            Ok(Some(notification)) => {
                let delivery = deliver(&db, &config, &client, &notification).await;
                match db
                    .finish_notification(&notification, &config.worker_id, &delivery)
                    .await
                {
                    Ok(()) => log(&notification, &delivery),
                    Err(e) => {
                        tracing::warn!(error = %e, id = notification.id, "cannot record a notification's outcome");
                    }
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "claiming a notification failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(config.poll_interval) => {}
        }
    }
}

fn log(notification: &Notification, delivery: &Delivery) {
    let (id, subject) = (notification.id, notification.subject.as_str());
    match delivery {
        Delivery::Sent => {
            tracing::info!(id, subject, owner = %notification.owner_id, "notification sent");
        }
        Delivery::NotSent(_) => {}
        Delivery::Failed { error, retry_at_ms } => tracing::warn!(
            id,
            subject,
            owner = %notification.owner_id,
            error = %error,
            retrying = retry_at_ms.is_some(),
            "notification not delivered"
        ),
    }
}

/// What a task or group says about itself in a notification.
struct Facts {
    smn: Option<SmnSpec>,
    body: Value,
}

/// Loads what `notification` is about; `None` when it is gone (deleted meanwhile).
async fn facts(db: &Db, n: &Notification) -> Result<Option<Facts>, DbError> {
    let gone = |e: DbError| match e {
        DbError::NotFound => Ok(None),
        e => Err(e),
    };
    let counters = |c: &ObjectCounters| {
        json!({
            "total_num": c.total_num, "successful_num": c.successful_num,
            "failed_num": c.failed_num, "skipped_num": c.skipped_num,
            "total_size": c.total_size, "complete_size": c.complete_size,
        })
    };
    match n.subject {
        Subject::Task => {
            let Some(id) = TaskId::parse(&n.owner_id) else {
                return Ok(None);
            };
            let task = match db.get_task(&n.project_id, id).await {
                Ok(task) => task,
                Err(e) => return gone(e),
            };
            Ok(Some(Facts {
                body: json!({
                    "task_id": task.id.to_string(), "name": task.name,
                    "group_id": task.group_id.map(|g| g.to_string()),
                    "status": task.status.code(), "counters": counters(&task.counters),
                    "error_code": task.failure.as_ref().map(|f| f.code.clone()),
                    "error_msg": task.failure.as_ref().map(|f| f.message.clone()),
                }),
                smn: task.spec.smn,
            }))
        }
        Subject::Group => {
            let Some(id) = GroupId::parse(&n.owner_id) else {
                return Ok(None);
            };
            let group = match db.get_group(&n.project_id, id).await {
                Ok(group) => group,
                Err(e) => return gone(e),
            };
            let stats = &group.tasks;
            Ok(Some(Facts {
                body: json!({
                    "group_id": group.group_id.to_string(),
                    "status": group.status.code(), "counters": counters(&stats.objects),
                    "total_task_num": stats.total, "complete_task_num": stats.completed,
                    "failed_task_num": stats.failed,
                    "error_code": group.failure.as_ref().map(|f| f.code.clone()),
                    "error_msg": group.failure.as_ref().map(|f| f.message.clone()),
                }),
                smn: group.spec.smn,
            }))
        }
    }
}

/// One delivery attempt of `n` to every receiver of its topic.
async fn deliver(
    db: &Db,
    config: &WorkerConfig,
    client: &reqwest::Client,
    n: &Notification,
) -> Delivery {
    let facts = match facts(db, n).await {
        Ok(Some(facts)) => facts,
        Ok(None) => return Delivery::NotSent(None),
        Err(e) => return failed(n, format!("cannot read the {}: {e}", n.subject.as_str())),
    };
    let Some(smn) = facts.smn else {
        return Delivery::NotSent(None);
    };
    let wanted = match n.trigger {
        Trigger::Success => SmnTrigger::Success,
        Trigger::Failure => SmnTrigger::Failure,
    };
    if !smn.trigger_conditions.contains(&wanted) {
        return Delivery::NotSent(None);
    }
    let receivers: Vec<&Webhook> = config
        .webhooks
        .iter()
        .filter(|w| w.topic_urn == "*" || w.topic_urn == smn.topic_urn)
        .filter(|w| {
            w.project_id
                .as_deref()
                .is_none_or(|p| p == n.project_id.as_str())
        })
        .collect();
    if receivers.is_empty() {
        return Delivery::NotSent(Some(format!(
            "no webhook receiver is configured for topic {}",
            smn.topic_urn
        )));
    }
    let mut body = facts.body;
    body["event_id"] = json!(n.id.to_string());
    body["event"] = json!(n.trigger.as_str());
    body["subject"] = json!(n.subject.as_str());
    body["time"] = json!(n.created_at_ms);
    body["topic_urn"] = json!(smn.topic_urn);
    body["project_id"] = json!(n.project_id);
    let body = body.to_string();
    let mut errors = Vec::new();
    for receiver in receivers {
        if let Err(e) = post(client, receiver, n.id, &body).await {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Delivery::Sent
    } else {
        failed(n, errors.join("; "))
    }
}

/// A failed attempt: tried again after a backoff, unless it was the last.
fn failed(n: &Notification, error: String) -> Delivery {
    let attempt = n.attempts + 1;
    let retry_at_ms = (attempt < MAX_ATTEMPTS).then(|| {
        let pause_secs = 2_i64
            .saturating_pow(u32::try_from(attempt).unwrap_or(16))
            .min(300);
        now_ms() + pause_secs * 1000
    });
    Delivery::Failed { error, retry_at_ms }
}

/// `sha256=<hex>` of HMAC-SHA256 over `body` under `secret`.
pub(crate) fn signature(secret: &SecretString, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose_secret().as_bytes());
    format!("sha256={}", hex::encode(hmac::sign(&key, body)))
}

/// POSTs `body` to `receiver`; an error names the receiver by its URL's host (never the
/// secret) and what went wrong.
async fn post(
    client: &reqwest::Client,
    receiver: &Webhook,
    event_id: i64,
    body: &str,
) -> Result<(), String> {
    let host = reqwest::Url::parse(&receiver.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "the receiver".to_owned());
    let answer = client
        .post(&receiver.url)
        .header("content-type", "application/json")
        .header("x-oms-event-id", event_id.to_string())
        .header(
            "x-oms-signature",
            signature(&receiver.secret, body.as_bytes()),
        )
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| {
            let why = if e.is_timeout() {
                "did not answer in time"
            } else if e.is_connect() {
                "refused the connection or cannot be reached"
            } else {
                "failed"
            };
            format!("webhook {host}: {why}")
        })?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "webhook {host}: answered HTTP {}",
            answer.status().as_u16()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body_in_hex() {
        // RFC 4231, test case 2.
        let secret = SecretString::from("Jefe");
        assert_eq!(
            signature(&secret, b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
