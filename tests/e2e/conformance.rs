//! Every connector against its real server, through `oms_storage::conformance`: S3 on s3s-fs
//! and on moto (reads and writes), Azure on Azurite, Google's XML API on moto, URL lists on the
//! test origin. Each connector is built as the engine builds it (`connect` from a parsed task
//! body and the operator's endpoints) and seeded with the store's own client, not with itself.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use oms_storage::catalogue::endpoints::EndpointRule;
use oms_storage::conformance::{
    Abilities, DotSegments, Seed, Subject, WriteSubject, check_reads, check_writes,
};
use oms_storage::connect::{ConnectSettings, Sides, connect};
use oms_storage::guard::Guard;
use oms_storage::{ErrorKind, ObjectHeaders, ReadStore};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use crate::support::azurite::{ACCOUNT_KEY, Azurite};
use crate::support::fixtures::google_account;
use crate::support::moto::Moto;
use crate::support::origin::Origin;
use crate::support::s3::{S3Server, client};

/// Names s3s-fs cannot give back: it maps keys to files, so `a//b` is `a/b` and a folder
/// marker `dir/` is the folder holding `dir/inside.txt`; and asked for `EncodingType=url`, it
/// says its listing is encoded but sends keys as they are, so `+` and `%41` are decoded once
/// too often (S3 and moto encode them).
const S3S_FS_LIMITS: &[&str] = &[
    "odd/double//slash.txt",
    "odd/dir/",
    "odd/plus+sign.txt",
    "odd/percent%41literal.txt",
];

fn rule(cloud: &str, region: &str, url: &str) -> EndpointRule {
    EndpointRule {
        cloud_type: cloud.into(),
        region: region.into(),
        url: url.into(),
        path_style: true,
        time_zone: None,
    }
}

/// Both sides of a migration as the engine builds them from `body`.
fn sides(body: &Value, endpoints: &[EndpointRule]) -> Sides {
    let new = oms_core::parse::create_task(serde_json::from_value(body.clone()).unwrap()).unwrap();
    let settings = ConnectSettings {
        endpoints: endpoints.to_vec(),
        connect_timeout: Duration::from_secs(5),
        operation_timeout: Duration::from_secs(30),
        guard: Guard {
            allow_private_networks: true,
        },
        max_requests_in_flight: 16,
    };
    connect(&settings, &new.spec, &new.credentials).unwrap()
}

/// A task body from `src_node` to an S3 destination `bucket` at region `conf-dst`.
fn body(src_node: &Value, dst: (&str, &str), bucket: &str) -> Value {
    json!({
        "task_type": "prefix",
        "src_node": src_node,
        "dst_node": {"ak": dst.0, "sk": dst.1, "region": "conf-dst", "bucket": bucket},
    })
}

/// Seeds with aws-sdk-s3, as anyone else writing to the bucket would.
struct SdkSeed {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Objects readable without keys (moto serves Google's XML API anonymously).
    public: bool,
}

#[async_trait]
impl Seed for SdkSeed {
    async fn put(&self, name: &str, bytes: Bytes, headers: &ObjectHeaders) {
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(name)
            .body(ByteStream::from(bytes))
            .set_content_type(headers.content_type.clone())
            .set_cache_control(headers.cache_control.clone())
            .set_content_disposition(headers.content_disposition.clone())
            .set_content_language(headers.content_language.clone())
            .set_content_encoding(headers.content_encoding.clone());
        for (k, v) in &headers.user_metadata {
            put = put.metadata(k, v);
        }
        if self.public {
            put = put.acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead);
        }
        put.send()
            .await
            .unwrap_or_else(|e| panic!("seeding {name:?}: {e:?}"));
    }
}

/// An S3 source and destination on the server at `url`, whose keys are (`ak`, `sk`).
fn s3_subjects(
    name: &str,
    url: &str,
    keys: (&str, &str),
    abilities: Abilities,
) -> (Subject, WriteSubject) {
    let bucket = "conformance";
    let endpoints = vec![rule("AWS", "conf-src", url), rule("HEC", "conf-dst", url)];
    let (ak, sk) = (keys.0.to_owned(), keys.1.to_owned());
    let make = {
        move |bucket: &str, good: bool| {
            let sk = if good {
                sk.clone()
            } else {
                format!("{sk}-wrong")
            };
            let src = json!({"cloud_type": "AWS", "region": "conf-src", "ak": ak, "sk": sk,
                             "bucket": bucket, "object_key": [""]});
            sides(&body(&src, (&ak, &sk), bucket), &endpoints)
        }
    };
    let destination = make(bucket, true).destination;
    let reads = Subject {
        name: format!("S3 on {name}"),
        bucket: bucket.to_owned(),
        connect: Box::new(move |bucket, good| make(bucket, good).source),
        seed: Box::new(SdkSeed {
            client: client(url, keys.0, keys.1),
            bucket: bucket.to_owned(),
            public: false,
        }),
        key_of: Box::new(str::to_owned),
        abilities,
    };
    let writes = WriteSubject {
        name: format!("S3 destination on {name}"),
        bucket: "conformance-writes".to_owned(),
        store: destination,
        tags: true,
        checks_content_md5: true,
        copy_conditions: true,
    };
    (reads, writes)
}

#[tokio::test]
async fn s3_on_s3s_fs() {
    let server = S3Server::start("conf").await;
    server.create_bucket("conformance").await;
    server.create_bucket("conformance-writes").await;
    let abilities = Abilities {
        lists: true,
        listed_etags: false,
        headers: true,
        user_metadata: true,
        buckets: true,
        wrong_keys: Some(ErrorKind::BadCredentials),
        dot_segments: DotSegments::NotApplicable,
        skipped_names: S3S_FS_LIMITS,
    };
    let (reads, mut writes) =
        s3_subjects("s3s-fs", &server.url, (&server.ak, &server.sk), abilities);
    // s3s-fs keeps no tags.
    writes.tags = false;
    check_reads(&reads).await;
    check_writes(&writes).await;
}

#[tokio::test]
async fn s3_on_moto() {
    let Some(moto) = Moto::start_or_skip().await else {
        return;
    };
    let s3 = client(&moto.url, "MOTOKEY", "motosecret");
    for bucket in ["conformance", "conformance-writes"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let abilities = Abilities {
        lists: true,
        listed_etags: true,
        headers: true,
        user_metadata: true,
        buckets: true,
        // moto takes any keys.
        wrong_keys: None,
        dot_segments: DotSegments::Kept,
        skipped_names: &[],
    };
    let (reads, mut writes) = s3_subjects("moto", &moto.url, ("MOTOKEY", "motosecret"), abilities);
    // moto takes any Content-MD5, and copies whatever x-amz-copy-source-if-match says.
    writes.checks_content_md5 = false;
    writes.copy_conditions = false;
    check_reads(&reads).await;
    check_writes(&writes).await;
}

/// Puts blobs in Azurite with its own Shared Key client.
struct AzuriteSeed {
    azurite: Arc<Azurite>,
    container: String,
}

#[async_trait]
impl Seed for AzuriteSeed {
    async fn put(&self, name: &str, bytes: Bytes, headers: &ObjectHeaders) {
        self.azurite
            .put_blob_with(&self.container, name, bytes.to_vec(), headers)
            .await;
    }
}

#[tokio::test]
async fn azure_on_azurite() {
    let Some(azurite) = Azurite::start_or_skip().await else {
        return;
    };
    let azurite = Arc::new(azurite);
    azurite.create_container("conformance").await;
    let strings = (
        azurite.connection_string(ACCOUNT_KEY),
        azurite.connection_string("d3Jvbmcga2V5IG9mIHNvbWUgbGVuZ3Ro"),
    );
    let subject = Subject {
        name: "Azure on Azurite".to_owned(),
        bucket: "conformance".to_owned(),
        connect: Box::new(move |bucket, good| {
            let connection = if good { &strings.0 } else { &strings.1 };
            let src = json!({"cloud_type": "Azure", "region": "eastus", "bucket": bucket,
                             "connection_string": connection, "object_key": [""]});
            sides(&body(&src, ("DSTAK", "DSTSK"), "unused"), &[]).source
        }),
        seed: Box::new(AzuriteSeed {
            azurite: azurite.clone(),
            container: "conformance".to_owned(),
        }),
        key_of: Box::new(str::to_owned),
        abilities: Abilities {
            lists: true,
            listed_etags: true,
            headers: true,
            user_metadata: true,
            buckets: true,
            // Azurite says AuthorizationFailure (denied) where Azure says AuthenticationFailed.
            wrong_keys: Some(ErrorKind::Denied),
            dot_segments: DotSegments::Refused,
            skipped_names: &[],
        },
    };
    check_reads(&subject).await;
}

#[tokio::test]
async fn google_on_moto_xml_api() {
    let Some(moto) = Moto::start_or_skip().await else {
        return;
    };
    let s3 = client(&moto.url, "MOTOKEY", "motosecret");
    s3.create_bucket()
        .bucket("gconformance")
        .send()
        .await
        .unwrap();
    let account = google_account(&moto.url, Some("shop"));
    let subject = Subject {
        name: "Google on moto's XML API".to_owned(),
        bucket: "gconformance".to_owned(),
        connect: Box::new(move |bucket, _| {
            let src = json!({"cloud_type": "Google", "region": "us", "bucket": bucket,
                             "json_auth_file": account, "object_key": [""]});
            sides(&body(&src, ("DSTAK", "DSTSK"), "unused"), &[]).source
        }),
        seed: Box::new(SdkSeed {
            client: s3,
            bucket: "gconformance".to_owned(),
            public: true,
        }),
        key_of: Box::new(str::to_owned),
        abilities: Abilities {
            lists: true,
            listed_etags: true,
            headers: true,
            // moto answers with x-amz-meta-*; Google's x-goog-meta-* is unit-tested.
            user_metadata: false,
            buckets: true,
            // Without OAuth, reads are anonymous.
            wrong_keys: None,
            dot_segments: DotSegments::Refused,
            skipped_names: &[],
        },
    };
    check_reads(&subject).await;
}

/// A name's bytes as a URL path carries them: unreserved characters and `/` as they are.
const URL_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

fn url_path(name: &str) -> String {
    format!("/{}", utf8_percent_encode(name, URL_PATH))
}

/// Files served by the test origin.
struct OriginSeed(Arc<Origin>);

#[async_trait]
impl Seed for OriginSeed {
    async fn put(&self, name: &str, bytes: Bytes, _: &ObjectHeaders) {
        self.0.add(&url_path(name), bytes.to_vec());
    }
}

#[tokio::test]
async fn url_lists_on_an_origin() {
    let origin = Arc::new(Origin::start().await);
    let authority = origin.authority.clone();
    let subject = Subject {
        name: "URL list on the test origin".to_owned(),
        bucket: String::new(),
        connect: Box::new(|_, _| {
            let src = json!({"cloud_type": "URLSource",
                             "list_file": {"list_file_key": "urls.txt", "obs_bucket": "lists"}});
            let mut task = body(&src, ("DSTAK", "DSTSK"), "unused");
            task["task_type"] = json!("url_list");
            let source: Arc<dyn ReadStore> = sides(&task, &[]).source;
            source
        }),
        seed: Box::new(OriginSeed(origin)),
        key_of: Box::new(move |name| format!("http://{authority}{}", url_path(name))),
        abilities: Abilities {
            lists: false,
            listed_etags: false,
            headers: false,
            user_metadata: false,
            buckets: false,
            wrong_keys: None,
            dot_segments: DotSegments::NotApplicable,
            skipped_names: &[],
        },
    };
    check_reads(&subject).await;
}
