//! `--dry-run` of `task create` and `group create`: the request that would be sent (keys
//! hidden) and what the source holds under its prefixes, counted with the bucket helper —
//! nothing is created.
//!
//! omsd has no server-side plan yet; this one is bounded (`MAX_PLAN_PAGES` helper pages per
//! prefix) and says when it stopped counting.

use serde_json::{Map, Value, json};

use crate::commands::Ctx;
use crate::commands::bucket::objects_page;
use crate::create::redacted;
use crate::error::CtlError;
use crate::output::{self, text};

/// How many helper pages a plan reads per prefix, at most.
const MAX_PLAN_PAGES: usize = 10;
/// How many keys a plan names.
const FIRST_KEYS: usize = 5;

/// What the source holds for a create body.
#[derive(Debug, Default)]
struct Count {
    objects: u64,
    bytes: u64,
    complete: bool,
    first_keys: Vec<String>,
}

/// The source's access fields of a create body, for the helpers.
fn access_of(src: &Value) -> Map<String, Value> {
    let mut access = Map::new();
    for field in [
        "cloud_type",
        "ak",
        "sk",
        "connection_string",
        "json_auth_file",
        "app_id",
    ] {
        if let Some(value) = src.get(field).filter(|v| v.is_string()) {
            access.insert(field.to_owned(), value.clone());
        }
    }
    access
}

/// Counts the objects under `prefix` (the helper lists folders, so the folder holding the
/// prefix is listed and its names filtered).
async fn count_prefix(
    ctx: &Ctx,
    src: &Value,
    prefix: &str,
    count: &mut Count,
) -> Result<(), CtlError> {
    let access = access_of(src);
    let folder = match prefix.rfind('/') {
        Some(end) => &prefix[..=end],
        None => "/",
    };
    let mut marker = String::new();
    for _ in 0..MAX_PLAN_PAGES {
        let page = objects_page(
            ctx,
            &access,
            text(src, "bucket"),
            text(src, "region"),
            folder,
            &marker,
        )
        .await?;
        for record in page["records"].as_array().into_iter().flatten() {
            let name = text(record, "name");
            if !name.starts_with(prefix) {
                continue;
            }
            count.objects += 1;
            count.bytes += text(record, "size").parse::<u64>().unwrap_or(0);
            if count.first_keys.len() < FIRST_KEYS {
                count.first_keys.push(name.to_owned());
            }
        }
        if page["next_page"].as_bool() != Some(true) {
            return Ok(());
        }
        marker = text(&page, "next_marker").to_owned();
    }
    count.complete = false;
    Ok(())
}

/// Prints the plan of `body` (a create body with its keys) and creates nothing.
pub async fn show(ctx: &Ctx, body: &Value) -> Result<(), CtlError> {
    let src = &body["src_node"];
    let kind = text(body, "task_type").to_ascii_lowercase();
    let mut count = Count {
        complete: true,
        ..Count::default()
    };
    let prefixes: Vec<String> = src["object_key"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    let note = match kind.as_str() {
        "prefix" | "" => {
            for prefix in &prefixes {
                count_prefix(ctx, src, prefix, &mut count).await?;
            }
            if count.complete {
                format!("counted every object under {} prefix(es)", prefixes.len())
            } else {
                format!(
                    "counted the first {MAX_PLAN_PAGES} helper pages of each prefix; more objects follow"
                )
            }
        }
        "object" => {
            count.objects = prefixes.len() as u64;
            count.first_keys = prefixes.iter().take(FIRST_KEYS).cloned().collect();
            "objects named by key (folders are listed when the task runs)".to_owned()
        }
        _ => format!(
            "objects read from the list file {} when the task runs (not counted here)",
            text(&src["list_file"], "list_file_key")
        ),
    };
    let shown = json!({
        "request": redacted(body),
        "plan": {
            "objects": count.objects,
            "bytes": count.bytes,
            "complete": count.complete,
            "first_keys": count.first_keys,
            "note": note,
        },
        "created": false,
    });
    output::emit(ctx.format, &shown, |s| {
        let request = serde_json::to_string_pretty(&s["request"]).unwrap_or_default();
        format!(
            "Request (keys hidden):\n{request}\n\nSource: {}{} objects, {} ({note})\nFirst keys: {}\nDry run: nothing was created.",
            if count.complete { "" } else { "at least " },
            count.objects,
            output::bytes(i64::try_from(count.bytes).unwrap_or(i64::MAX)),
            count.first_keys.join(", ")
        )
    });
    Ok(())
}
