//! Create bodies from options: the common cases of a task or task group (source and
//! destination buckets, prefixes, keys or a list file, overwrite mode, bandwidth windows) as
//! flags, or a whole JSON body from a file with flags laid over it.

use std::path::PathBuf;
use std::str::FromStr;

use oms_core::spec::{CloudType, OverwriteMode};
use serde_json::{Map, Value, json};

use crate::error::CtlError;
use crate::keys::{KeyArgs, KeyNeeds};

/// A bandwidth window: `HH:MM-HH:MM=RATE`, the rate in bytes/s with an optional binary unit
/// (`K`, `M`, `G`; `2M` = 2 MiB/s = 2097152).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandwidthWindow {
    /// `hh:mm`, inclusive.
    pub start: String,
    /// `hh:mm`, exclusive.
    pub end: String,
    /// Bytes per second.
    pub max_bandwidth: i64,
}

impl FromStr for BandwidthWindow {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let shape = || format!("{raw:?} is not HH:MM-HH:MM=RATE (e.g. 22:00-06:00=20M)");
        let (times, rate) = raw.split_once('=').ok_or_else(shape)?;
        let (start, end) = times.split_once('-').ok_or_else(shape)?;
        let max_bandwidth = parse_rate(rate).ok_or_else(shape)?;
        Ok(Self {
            start: start.trim().to_owned(),
            end: end.trim().to_owned(),
            max_bandwidth,
        })
    }
}

/// A rate in bytes/s: `2097152`, `2M`, `2MiB`, `2048K`, `1G` (binary units), `/s` allowed.
fn parse_rate(raw: &str) -> Option<i64> {
    let raw = raw.trim().trim_end_matches("/s");
    let split = raw
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "K" | "KIB" | "KB" => 1024.0,
        "M" | "MIB" | "MB" => 1024.0 * 1024.0,
        "G" | "GIB" | "GB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = (number * factor).round();
    (1.0..9e15).contains(&bytes).then_some(bytes as i64)
}

/// `bandwidth_policy` for `windows`.
pub fn bandwidth_policy(windows: &[BandwidthWindow]) -> Value {
    Value::Array(
        windows
            .iter()
            .map(|w| json!({"start": w.start, "end": w.end, "max_bandwidth": w.max_bandwidth}))
            .collect(),
    )
}

/// What a task or group migrates, as options.
#[derive(Debug, Clone, clap::Args)]
pub struct MigrationArgs {
    /// A JSON file holding a whole create body (as the API takes it); the options given too
    /// are laid over it. Keys in it are used; missing ones are gathered as usual.
    #[arg(long, value_name = "FILE")]
    pub from_json: Option<PathBuf>,
    /// The source cloud: AWS, Aliyun, Tencent, HuaweiCloud, Azure, Google, URLSource, ...
    #[arg(long, value_name = "CLOUD")]
    pub src_cloud: Option<String>,
    /// The source region (as omsd knows it: a public region or an `[[endpoints]]` rule).
    #[arg(long, value_name = "REGION")]
    pub src_region: Option<String>,
    /// The source bucket.
    #[arg(long, value_name = "BUCKET")]
    pub src_bucket: Option<String>,
    /// A prefix to migrate (repeatable); "" is the whole bucket. The default when no --key or
    /// --list-file is given.
    #[arg(long = "prefix", value_name = "PREFIX")]
    pub prefixes: Vec<String>,
    /// An object key to migrate (repeatable; a key ending in / is a folder). Tasks only.
    #[arg(long = "key", value_name = "KEY", conflicts_with = "prefixes")]
    pub keys: Vec<String>,
    /// The key of a list file (one URL-encoded key per line), or for groups a folder of list
    /// files; with --url-list, lines are `URL<TAB>destination key`.
    #[arg(long, value_name = "KEY", conflicts_with_all = ["prefixes", "keys"])]
    pub list_file: Option<String>,
    /// The bucket holding the list file (default: the destination bucket).
    #[arg(long, value_name = "BUCKET", requires = "list_file")]
    pub list_bucket: Option<String>,
    /// The list file holds URLs (a URL-list migration; the source cloud is URLSource).
    #[arg(long, requires = "list_file")]
    pub url_list: bool,
    /// The destination region.
    #[arg(long, value_name = "REGION")]
    pub dst_region: Option<String>,
    /// The destination bucket.
    #[arg(long, value_name = "BUCKET")]
    pub dst_bucket: Option<String>,
    /// A prefix put before every destination key.
    #[arg(long, value_name = "PREFIX")]
    pub save_prefix: Option<String>,
    /// What to do with objects already at the destination: NO_OVERWRITE,
    /// SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE (default), CRC64_COMPARISON_OVERWRITE,
    /// FULL_OVERWRITE.
    #[arg(long, value_name = "MODE", value_parser = parse_overwrite)]
    pub overwrite: Option<String>,
    /// A bandwidth window HH:MM-HH:MM=RATE (repeatable, at most 5; RATE 1M to 200M bytes/s).
    #[arg(long = "bandwidth", value_name = "WINDOW")]
    pub bandwidth: Vec<BandwidthWindow>,
    /// Only objects modified after this Unix time (seconds).
    #[arg(long, value_name = "SECONDS")]
    pub migrate_since: Option<i64>,
    /// Copy user metadata too (Content-Type is always copied).
    #[arg(long)]
    pub metadata: bool,
    /// A description (up to 255 characters).
    #[arg(long)]
    pub description: Option<String>,
    /// The keys of the stores.
    #[command(flatten)]
    pub key_args: KeyArgs,
}

fn parse_overwrite(raw: &str) -> Result<String, String> {
    OverwriteMode::parse(raw)
        .map(|m| m.as_str().to_owned())
        .ok_or_else(|| format!("one of {}", OverwriteMode::expected()))
}

/// Whether a body is for a task or a task group (their `task_type` spellings differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `POST /tasks`: `object`, `prefix`, `list`, `url_list`.
    Task,
    /// `POST /taskgroups`: `PREFIX`, `LIST`, `URL_LIST`.
    Group,
}

/// Runs `fill` on the object `body[field]` (made an object when it is absent or not one).
fn with_object(
    body: &mut Map<String, Value>,
    field: &str,
    fill: impl FnOnce(&mut Map<String, Value>),
) {
    let mut map = match body.remove(field) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    fill(&mut map);
    body.insert(field.to_owned(), Value::Object(map));
}

fn set(map: &mut Map<String, Value>, field: &str, value: Option<&String>) {
    if let Some(v) = value {
        map.insert(field.to_owned(), Value::from(v.as_str()));
    }
}

impl MigrationArgs {
    /// The create body, without keys: the JSON file (if any) with the options over it.
    pub fn body_without_keys(&self, target: Target) -> Result<Map<String, Value>, CtlError> {
        let mut body = match &self.from_json {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| CtlError::File {
                    path: path.display().to_string(),
                    source,
                })?;
                match serde_json::from_str(&text) {
                    Ok(Value::Object(map)) => map,
                    Ok(_) => {
                        return Err(CtlError::usage(format!(
                            "{}: the body must be a JSON object",
                            path.display()
                        )));
                    }
                    Err(e) => {
                        return Err(CtlError::usage(format!(
                            "{}: not JSON: {e}",
                            path.display()
                        )));
                    }
                }
            }
            None => Map::new(),
        };
        let kind = if self.url_list {
            Some("url_list")
        } else if self.list_file.is_some() {
            Some("list")
        } else if !self.keys.is_empty() {
            Some("object")
        } else if !self.prefixes.is_empty() || self.from_json.is_none() {
            Some("prefix")
        } else {
            None
        };
        if let Some(kind) = kind {
            if target == Target::Group && kind == "object" {
                return Err(CtlError::usage(
                    "task groups take prefixes or a list file, not --key",
                ));
            }
            let spelled = match target {
                Target::Task => kind.to_owned(),
                Target::Group => kind.to_ascii_uppercase(),
            };
            body.insert("task_type".into(), Value::from(spelled));
        }
        let list_bucket = self.list_bucket.as_ref().or(self.dst_bucket.as_ref());
        with_object(&mut body, "src_node", |src| {
            let cloud = if self.url_list {
                Some("URLSource".to_owned())
            } else {
                self.src_cloud.clone()
            };
            set(src, "cloud_type", cloud.as_ref());
            set(src, "region", self.src_region.as_ref());
            set(src, "bucket", self.src_bucket.as_ref());
            if !self.keys.is_empty() {
                src.insert("object_key".into(), json!(self.keys));
            } else if !self.prefixes.is_empty() {
                src.insert("object_key".into(), json!(self.prefixes));
            } else if kind == Some("prefix") && !src.contains_key("object_key") {
                src.insert("object_key".into(), json!([""]));
            }
            if let Some(key) = &self.list_file {
                src.insert(
                    "list_file".into(),
                    json!({"list_file_key": key, "obs_bucket": list_bucket}),
                );
            }
        });
        with_object(&mut body, "dst_node", |dst| {
            set(dst, "region", self.dst_region.as_ref());
            set(dst, "bucket", self.dst_bucket.as_ref());
            set(dst, "save_prefix", self.save_prefix.as_ref());
        });
        set(&mut body, "object_overwrite_mode", self.overwrite.as_ref());
        set(&mut body, "description", self.description.as_ref());
        if !self.bandwidth.is_empty() {
            body.insert("bandwidth_policy".into(), bandwidth_policy(&self.bandwidth));
        }
        if let Some(since) = self.migrate_since {
            body.insert("migrate_since".into(), Value::from(since));
        }
        if self.metadata {
            body.insert("enable_metadata_migration".into(), Value::Bool(true));
        }
        Ok(body)
    }

    /// The whole create body: [`Self::body_without_keys`] with the keys it lacks gathered.
    pub fn body(&self, target: Target) -> Result<Value, CtlError> {
        let mut body = self.body_without_keys(target)?;
        let cloud = body["src_node"]["cloud_type"]
            .as_str()
            .unwrap_or(CloudType::Aliyun.as_str())
            .to_owned();
        let cdn = body
            .get("source_cdn")
            .and_then(|c| c["authentication_type"].as_str())
            .map(str::to_owned);
        let has = |node: &str, field: &str| body[node][field].as_str().is_some();
        let mut needs = KeyNeeds::migration(&cloud, cdn.as_deref());
        if has("src_node", "sk")
            || has("src_node", "connection_string")
            || has("src_node", "json_auth_file")
        {
            needs.source = None;
        }
        needs.destination = !has("dst_node", "sk");
        needs.cdn_key &= body
            .get("source_cdn")
            .is_some_and(|c| c["authentication_key"].as_str().is_none());
        let keys = self.key_args.gather(needs)?;
        with_object(&mut body, "src_node", |src| keys.fill_source(src));
        with_object(&mut body, "dst_node", |dst| keys.fill_destination(dst));
        if let Some(key) = keys.cdn_key() {
            use secrecy::ExposeSecret as _;
            with_object(&mut body, "source_cdn", |cdn| {
                cdn.insert(
                    "authentication_key".into(),
                    Value::from(key.expose_secret()),
                );
            });
        }
        Ok(Value::Object(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(Debug, clap::Parser)]
    struct Probe {
        #[command(flatten)]
        args: MigrationArgs,
    }

    #[test]
    fn windows_and_rates_parse() {
        let w: BandwidthWindow = "22:00-06:00=20M".parse().unwrap();
        assert_eq!(
            (w.start.as_str(), w.end.as_str(), w.max_bandwidth),
            ("22:00", "06:00", 20 * 1024 * 1024)
        );
        assert_eq!(parse_rate("1048576"), Some(1_048_576));
        assert_eq!(parse_rate("2MiB/s"), Some(2_097_152));
        assert_eq!(parse_rate("1.5K"), Some(1536));
        assert_eq!(parse_rate("fast"), None);
        assert!("22:00=1M".parse::<BandwidthWindow>().is_err());
    }

    #[test]
    fn flags_make_the_bodies_omsd_takes() {
        let probe = Probe::parse_from([
            "x",
            "--src-cloud",
            "AWS",
            "--src-region",
            "r1",
            "--src-bucket",
            "photos",
            "--dst-region",
            "r2",
            "--dst-bucket",
            "backup",
            "--overwrite",
            "no_overwrite",
            "--bandwidth",
            "00:00-23:59=2M",
        ]);
        let task = probe.args.body_without_keys(Target::Task).unwrap();
        assert_eq!(task["task_type"], "prefix");
        assert_eq!(task["src_node"]["object_key"], json!([""]));
        assert_eq!(task["object_overwrite_mode"], "NO_OVERWRITE");
        assert_eq!(task["bandwidth_policy"][0]["max_bandwidth"], 2_097_152);
        let group = probe.args.body_without_keys(Target::Group).unwrap();
        assert_eq!(group["task_type"], "PREFIX");

        let list = Probe::parse_from([
            "x",
            "--url-list",
            "--list-file",
            "urls.txt",
            "--dst-bucket",
            "b",
        ]);
        let body = list.args.body_without_keys(Target::Task).unwrap();
        assert_eq!(body["task_type"], "url_list");
        assert_eq!(body["src_node"]["cloud_type"], "URLSource");
        assert_eq!(body["src_node"]["list_file"]["obs_bucket"], "b");
    }
}
