//! `omsctl bucket ...`, `omsctl regions`, `omsctl clouds`: the helpers a person uses before
//! creating a migration (which buckets the keys see, what is in them, where they are).

use serde_json::{Map, Value};

use super::Ctx;
use crate::client::query;
use crate::error::CtlError;
use crate::keys::{KeyArgs, KeyNeeds};
use crate::output::{self, text};

/// How many objects `bucket objects` pages through at most unless told otherwise.
const DEFAULT_MAX_OBJECTS: u32 = 1000;
/// Objects per helper page (the API's largest).
const HELPER_PAGE_SIZE: u32 = 100;

/// Which store a helper asks, with which keys.
#[derive(Debug, Clone, clap::Args)]
pub struct Store {
    /// The cloud of the bucket (source clouds: AWS, Aliyun, ...; HEC with --dest).
    #[arg(long, value_name = "CLOUD", default_value = "AWS")]
    pub cloud: String,
    /// Ask the destination store (cloud HEC) with the destination keys.
    #[arg(long)]
    pub dest: bool,
    /// The keys (the source's, or the destination's with --dest).
    #[command(flatten)]
    pub keys: KeyArgs,
}

impl Store {
    /// The cloud and keys fields of a helper body.
    fn access(&self) -> Result<Map<String, Value>, CtlError> {
        let mut body = Map::new();
        if self.dest {
            let keys = self.keys.gather(KeyNeeds {
                source: None,
                destination: true,
                cdn_key: false,
            })?;
            body.insert("cloud_type".into(), Value::from("HEC"));
            keys.fill_destination(&mut body);
        } else {
            let mut needs = KeyNeeds::migration(&self.cloud, None);
            needs.destination = false;
            let keys = self.keys.gather(needs)?;
            body.insert("cloud_type".into(), Value::from(self.cloud.as_str()));
            keys.fill_source(&mut body);
        }
        Ok(body)
    }
}

/// The bucket helpers.
#[derive(Debug, clap::Subcommand)]
pub enum BucketCommand {
    /// The buckets the keys see.
    #[command(
        after_help = "Example:\n  OMSCTL_SRC_SK=... omsctl bucket list --cloud AWS --src-ak AKIA..."
    )]
    List {
        /// The store and keys.
        #[command(flatten)]
        store: Store,
    },
    /// The objects under a folder of a bucket (every depth), page after page.
    #[command(
        after_help = "Example:\n  omsctl bucket objects photos --region eu-west-1 --path 2024/ --keys-file keys.toml"
    )]
    Objects {
        /// The bucket.
        bucket: String,
        /// The bucket's region.
        #[arg(long, value_name = "REGION")]
        region: String,
        /// The folder, ending in / (/ is the whole bucket).
        #[arg(long, default_value = "/")]
        path: String,
        /// Stop after this many objects.
        #[arg(long, default_value_t = DEFAULT_MAX_OBJECTS)]
        max: u32,
        /// The store and keys.
        #[command(flatten)]
        store: Store,
    },
    /// The region a bucket is in, and whether omsd can migrate from it.
    #[command(
        after_help = "Example:\n  omsctl bucket region photos --cloud AWS --keys-file keys.toml"
    )]
    Region {
        /// The bucket.
        bucket: String,
        /// The store and keys.
        #[command(flatten)]
        store: Store,
    },
    /// Whether an object or prefix exists in a bucket.
    #[command(
        after_help = "Example:\n  omsctl bucket exists photos 2024/ --region eu-west-1 --keys-file keys.toml"
    )]
    Exists {
        /// The bucket.
        bucket: String,
        /// The object key or prefix.
        key: String,
        /// The bucket's region.
        #[arg(long, value_name = "REGION")]
        region: String,
        /// The store and keys.
        #[command(flatten)]
        store: Store,
    },
}

/// A JSON array of names as lines.
fn names(answer: &Value) -> String {
    answer
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

/// One page of `ShowBucketObjects`.
pub(crate) async fn objects_page(
    ctx: &Ctx,
    access: &Map<String, Value>,
    bucket: &str,
    region: &str,
    path: &str,
    marker: &str,
) -> Result<Value, CtlError> {
    let mut body = access.clone();
    body.insert("bucket_name".into(), Value::from(bucket));
    body.insert("data_center".into(), Value::from(region));
    body.insert("file_path".into(), Value::from(path));
    body.insert("page_size".into(), Value::from(HELPER_PAGE_SIZE));
    body.insert("behind_filename".into(), Value::from(marker));
    ctx.api
        .post("objectstorage/buckets/objects", Some(&Value::Object(body)))
        .await
}

/// Runs a bucket command.
pub async fn run(ctx: &Ctx, command: BucketCommand) -> Result<(), CtlError> {
    match command {
        BucketCommand::List { store } => {
            let body = Value::Object(store.access()?);
            let buckets = ctx.api.post("objectstorage/buckets", Some(&body)).await?;
            output::emit(ctx.format, &buckets, names);
            Ok(())
        }
        BucketCommand::Objects {
            bucket,
            region,
            path,
            max,
            store,
        } => {
            let access = store.access()?;
            let mut records = Vec::new();
            let mut marker = String::new();
            let mut more = true;
            while more && records.len() < max as usize {
                let page = objects_page(ctx, &access, &bucket, &region, &path, &marker).await?;
                records.extend(page["records"].as_array().cloned().unwrap_or_default());
                more = page["next_page"].as_bool().unwrap_or(false);
                marker = text(&page, "next_marker").to_owned();
            }
            if records.len() > max as usize {
                records.truncate(max as usize);
                more = true;
            }
            let shown =
                serde_json::json!({"records": records, "next_page": more, "next_marker": marker});
            output::emit(ctx.format, &shown, |s| {
                let rows: Vec<Vec<String>> = s["records"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        let size = text(r, "size");
                        let size = size.parse().map_or_else(|_| size.to_owned(), output::bytes);
                        vec![text(r, "name").to_owned(), size]
                    })
                    .collect();
                let tail = if more { " (more follow)" } else { "" };
                format!(
                    "{}\n{} objects{tail}",
                    output::table(&["KEY", "SIZE"], &rows),
                    rows.len()
                )
            });
            Ok(())
        }
        BucketCommand::Region { bucket, store } => {
            let mut body = store.access()?;
            body.insert("bucket_name".into(), Value::from(bucket.as_str()));
            let region = ctx
                .api
                .post("objectstorage/buckets/regions", Some(&Value::Object(body)))
                .await?;
            output::emit(ctx.format, &region, |r| {
                format!(
                    "{bucket}: {} ({}){}",
                    text(r, "id"),
                    text(r, "name"),
                    if r["support"].as_bool() == Some(true) {
                        ""
                    } else {
                        ", not a region omsd can migrate from"
                    }
                )
            });
            Ok(())
        }
        BucketCommand::Exists {
            bucket,
            key,
            region,
            store,
        } => {
            let mut body = store.access()?;
            body.insert("bucket_name".into(), Value::from(bucket.as_str()));
            body.insert("file_name".into(), Value::from(key.as_str()));
            body.insert("data_center".into(), Value::from(region));
            let answer = ctx
                .api
                .post("objectstorage/buckets/prefix", Some(&Value::Object(body)))
                .await?;
            output::emit(ctx.format, &answer, |a| {
                if a["exist"].as_bool() == Some(true) {
                    format!("{bucket}/{key} exists")
                } else {
                    format!("{bucket}/{key} does not exist")
                }
            });
            Ok(())
        }
    }
}

/// `omsctl regions`: the regions omsd knows per cloud (its catalogue and `[[endpoints]]`).
pub async fn regions(ctx: &Ctx, cloud: Option<&str>) -> Result<(), CtlError> {
    let all = ctx.api.get("objectstorage/data-center").await?;
    let wanted = |service: &Value| {
        cloud.is_none_or(|c| text(service, "service_name").eq_ignore_ascii_case(c))
    };
    let chosen = Value::Array(
        all.as_array()
            .into_iter()
            .flatten()
            .filter(|s| wanted(s))
            .cloned()
            .collect(),
    );
    output::emit(ctx.format, &chosen, |services| {
        let rows: Vec<Vec<String>> = services
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| {
                s["region_list"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        vec![
                            text(s, "service_name").to_owned(),
                            text(r, "value").to_owned(),
                            text(r, "description").to_owned(),
                        ]
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        output::table(&["CLOUD", "REGION", "NAME"], &rows)
    });
    Ok(())
}

/// `omsctl clouds`: the source (or destination) clouds omsd supports.
pub async fn clouds(ctx: &Ctx, destination: bool) -> Result<(), CtlError> {
    let kind = if destination { "dst" } else { "src" };
    let answer = ctx
        .api
        .get(&format!(
            "objectstorage/cloud-type{}",
            query(&[("type", Some(kind.into()))])
        ))
        .await?;
    output::emit(ctx.format, &answer, names);
    Ok(())
}
