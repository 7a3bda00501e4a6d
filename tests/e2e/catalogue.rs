//! The bucket and catalogue helpers end to end (`/v2/{project_id}/objectstorage/...`,
//! `/privacy-agreements`): the clouds and regions omsd reaches, the privacy record in the
//! database, and the bucket questions asked of real stores (moto, s3s-fs with its keys checked,
//! Azurite), with every failure a 400 naming the side and the cause.

use oms_core::ids::ProjectId;
use serde_json::{Value, json};

use crate::engine::rule;
use crate::support::harness::{Overrides, TestServer, captured_logs};
use crate::support::moto::Moto;
use crate::support::s3::{S3Server, client};

mod stores;

/// The region the tests map to moto.
const MOTO_REGION: &str = "moto-1";
/// The region the tests map to s3s-fs.
pub(crate) const FS_REGION: &str = "fs-1";

pub(crate) async fn oms_with(
    endpoints: Vec<oms_storage::catalogue::endpoints::EndpointRule>,
    overrides: Overrides,
) -> TestServer {
    TestServer::start_with(Overrides {
        endpoints,
        ..overrides
    })
    .await
}

#[tokio::test]
async fn cloud_types_and_regions_are_the_catalogue_merged_with_the_endpoints() {
    let oms = oms_with(
        vec![
            rule("AWS", "on-prem-1", "http://127.0.0.1:9"),
            rule("HEC", "*", "http://127.0.0.1:9"),
        ],
        Overrides::default(),
    )
    .await;
    let api = oms.signed_client(&oms.a);
    let p = &oms.a.id;

    let src = api
        .get(&format!("/v2/{p}/objectstorage/cloud-type?type=src"))
        .await;
    let clouds: Vec<&str> = src
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for cloud in ["AWS", "Aliyun", "Azure", "Google", "URLSource", "Tencent"] {
        assert!(clouds.contains(&cloud), "{clouds:?}");
    }
    assert!(!clouds.contains(&"HEC"));
    let dst = api
        .get(&format!("/v2/{p}/objectstorage/cloud-type?type=dst"))
        .await;
    assert_eq!(dst.ok(), &json!(["HEC"]));
    api.get(&format!("/v2/{p}/objectstorage/cloud-type?type=both"))
        .await
        .assert_error(400, "OMS.0064");
    api.get(&format!("/v2/{p}/objectstorage/cloud-type"))
        .await
        .assert_error(400, "OMS.0064");

    let regions = api.get(&format!("/v2/{p}/objectstorage/data-center")).await;
    let services = regions.ok().as_array().unwrap();
    let aws = services
        .iter()
        .find(|s| s["service_name"] == "AWS")
        .unwrap();
    let aws_regions = aws["region_list"].as_array().unwrap();
    assert!(aws_regions.contains(
        &json!({"cloud_type": "AWS", "value": "eu-west-1", "description": "Europe (Ireland)"})
    ));
    assert_eq!(
        aws_regions.last().unwrap(),
        &json!({"cloud_type": "AWS", "value": "on-prem-1", "description": "Configured endpoint"})
    );
    let hec = services
        .iter()
        .find(|s| s["service_name"] == "HEC")
        .unwrap();
    assert!(
        hec["region_list"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["value"] != "*")
    );
    assert!(services.iter().all(|s| s["service_name"] != "Azure"));
}

#[tokio::test]
async fn a_privacy_acceptance_is_recorded_per_project_with_its_caller() {
    let oms = TestServer::start().await;
    let p = &oms.a.id;
    let before = oms_core::time::now_ms();
    let signed = oms.signed_client(&oms.a);
    assert_eq!(
        signed
            .post(&format!("/v2/{p}/privacy-agreements"), None)
            .await
            .ok(),
        &json!({})
    );
    let db = oms.db().await;
    let project = ProjectId::parse(p).unwrap();
    let stored = db.privacy_acceptance(&project).await.unwrap().unwrap();
    assert_eq!(stored.accepted_by, format!("access_key:{}", oms.a.ak));
    assert!(stored.accepted_at_ms >= before);
    // A later acceptance by the project's user replaces it; another project has none.
    oms.token_client(&oms.a)
        .post(&format!("/v2/{p}/privacy-agreements"), None)
        .await
        .ok();
    let stored = db.privacy_acceptance(&project).await.unwrap().unwrap();
    assert_eq!(stored.accepted_by, format!("user:{}", oms.a.user));
    let other = ProjectId::parse(&oms.b.id).unwrap();
    assert!(db.privacy_acceptance(&other).await.unwrap().is_none());
    // Only the project's own callers may record it.
    oms.signed_client(&oms.b)
        .post(&format!("/v2/{p}/privacy-agreements"), None)
        .await
        .assert_error(403, "APIGW.0302");
}

/// A body of `cloud_type` AWS with moto's keys (moto accepts any).
fn moto_body(extra: Value) -> Value {
    let mut body = json!({"cloud_type": "AWS", "ak": "MOTOKEY", "sk": "motosecret"});
    let Value::Object(extra) = extra else {
        panic!("the extra fields are an object")
    };
    body.as_object_mut().unwrap().extend(extra);
    body
}

#[tokio::test]
async fn s3_buckets_objects_regions_and_prefixes_are_answered_from_the_store() {
    let Some(moto) = Moto::start_or_skip().await else {
        return;
    };
    let s3 = client(&moto.url, "MOTOKEY", "motosecret");
    s3.create_bucket().bucket("photos").send().await.unwrap();
    s3.create_bucket()
        .bucket("archive")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for (key, size) in [
        ("2024/a.jpg", 3),
        ("2024/b.jpg", 5),
        ("2024/deep/c.jpg", 7),
        ("2024/", 0),
        ("2025/d.jpg", 11),
        ("top.txt", 13),
    ] {
        s3.put_object()
            .bucket("photos")
            .key(key)
            .body(vec![b'x'; size].into())
            .send()
            .await
            .unwrap();
    }
    let oms = oms_with(
        vec![rule("AWS", MOTO_REGION, &moto.url)],
        Overrides::default(),
    )
    .await;
    let api = oms.signed_client(&oms.a);
    let p = &oms.a.id;

    let buckets = api
        .post(
            &format!("/v2/{p}/objectstorage/buckets"),
            Some(&moto_body(json!({}))),
        )
        .await;
    assert_eq!(buckets.ok(), &json!(["archive", "photos"]));

    // Pages of two under 2024/, by full key, at any depth, the folder marker included.
    let page = |after: &str| {
        moto_body(
            json!({"bucket_name": "photos", "file_path": "2024/", "data_center": MOTO_REGION,
                         "page_size": 2, "behind_filename": after}),
        )
    };
    let first = api
        .post(
            &format!("/v2/{p}/objectstorage/buckets/objects"),
            Some(&page("")),
        )
        .await;
    assert_eq!(
        first.ok(),
        &json!({"next_page": true, "next_marker": "2024/a.jpg",
                "records": [{"name": "2024/", "size": "0"}, {"name": "2024/a.jpg", "size": "3"}]})
    );
    let second = api
        .post(
            &format!("/v2/{p}/objectstorage/buckets/objects"),
            Some(&page("2024/a.jpg")),
        )
        .await;
    assert_eq!(
        second.ok()["records"],
        json!([{"name": "2024/b.jpg", "size": "5"}, {"name": "2024/deep/c.jpg", "size": "7"}])
    );
    let third = api
        .post(
            &format!("/v2/{p}/objectstorage/buckets/objects"),
            Some(&page("2024/deep/c.jpg")),
        )
        .await;
    assert_eq!(
        third.ok(),
        &json!({"next_page": false, "next_marker": "", "records": []})
    );
    let root = moto_body(
        json!({"bucket_name": "photos", "file_path": "/", "data_center": MOTO_REGION,
                                "page_size": 0, "behind_filename": ""}),
    );
    let all = api
        .post(
            &format!("/v2/{p}/objectstorage/buckets/objects"),
            Some(&root),
        )
        .await;
    assert_eq!(all.ok()["records"].as_array().unwrap().len(), 6);
    assert_eq!(all.ok()["next_page"], false);

    let region = |bucket: &str| moto_body(json!({"bucket_name": bucket}));
    let archive = api
        .post(
            &format!("/v2/{p}/objectstorage/buckets/regions"),
            Some(&region("archive")),
        )
        .await;
    assert_eq!(
        archive.ok(),
        &json!({"id": "eu-west-1", "name": "Europe (Ireland)", "support": true})
    );

    for (name, exist) in [
        ("2024/b.jpg", true),
        ("2024/de", true),
        ("2025/", true),
        ("2026/", false),
        ("top.txt", true),
        ("nope", false),
    ] {
        let body = moto_body(
            json!({"bucket_name": "photos", "file_name": name, "data_center": MOTO_REGION}),
        );
        let reply = api
            .post(
                &format!("/v2/{p}/objectstorage/buckets/prefix"),
                Some(&body),
            )
            .await;
        assert_eq!(reply.ok(), &json!({"exist": exist}), "{name}");
    }
}

#[tokio::test]
async fn a_bucket_in_a_region_omsd_cannot_reach_is_not_supported() {
    let Some(moto) = Moto::start_or_skip().await else {
        return;
    };
    let s3 = client(&moto.url, "MOTOKEY", "motosecret");
    s3.create_bucket()
        .bucket("far")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    "moon-base-1",
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let oms = oms_with(
        vec![rule("AWS", MOTO_REGION, &moto.url)],
        Overrides::default(),
    )
    .await;
    let api = oms.signed_client(&oms.a);
    let reply = api
        .post(
            &format!("/v2/{}/objectstorage/buckets/regions", oms.a.id),
            Some(&moto_body(json!({"bucket_name": "far"}))),
        )
        .await;
    assert_eq!(
        reply.ok(),
        &json!({"id": "moon-base-1", "name": "moon-base-1", "support": false})
    );
}

#[tokio::test]
async fn store_failures_are_400s_that_name_the_side_and_the_cause() {
    let fs = S3Server::start("cat").await;
    fs.create_bucket("present").await;
    // A server that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let oms = oms_with(
        vec![
            rule("AWS", FS_REGION, &fs.url),
            rule("AWS", "refused-1", "http://127.0.0.1:9"),
            rule("AWS", "silent-1", &silent_url),
            rule("HEC", FS_REGION, &fs.url),
        ],
        Overrides {
            catalogue_timeout_secs: Some(2),
            ..Overrides::default()
        },
    )
    .await;
    let api = oms.signed_client(&oms.a);
    let p = &oms.a.id;
    let prefix = |cloud: &str, region: &str, ak: &str, sk: &str, bucket: &str| json!({"cloud_type": cloud, "ak": ak, "sk": sk, "bucket_name": bucket, "file_name": "x", "data_center": region});
    let url = format!("/v2/{p}/objectstorage/buckets/prefix");
    let cases = [
        (
            prefix("AWS", FS_REGION, &fs.ak, "wrong-secret", "present"),
            "The source store",
            "the keys were refused",
        ),
        (
            prefix("AWS", FS_REGION, &fs.ak, &fs.sk, "absent"),
            "The source store",
            "the bucket does not exist",
        ),
        (
            prefix("HEC", FS_REGION, &fs.ak, &fs.sk, "absent"),
            "The destination store",
            "the bucket does not exist",
        ),
        (
            prefix("AWS", "refused-1", &fs.ak, &fs.sk, "present"),
            "The source store",
            "cannot be reached",
        ),
        (
            prefix("AWS", "silent-1", &fs.ak, &fs.sk, "present"),
            "The source store",
            "did not answer within 2 s",
        ),
    ];
    for (body, side, cause) in cases {
        let reply = api.post(&url, Some(&body)).await;
        reply.assert_error(400, "OMS.0153");
        assert!(
            reply.msg().starts_with(side) && reply.msg().contains(cause),
            "{}",
            reply.text
        );
    }
    // The same keys work where they are right.
    let ok = api
        .post(
            &url,
            Some(&prefix("AWS", FS_REGION, &fs.ak, &fs.sk, "present")),
        )
        .await;
    assert_eq!(ok.ok(), &json!({"exist": false}));
    // Bodies that cannot be used are refused before any store is asked.
    for (body, field) in [
        (
            json!({"cloud_type": "AWS", "sk": "x", "bucket_name": "b", "file_name": "x", "data_center": FS_REGION}),
            "ak",
        ),
        (
            json!({"cloud_type": "Mars", "ak": "a", "sk": "x"}),
            "cloud_type",
        ),
        (json!({"cloud_type": "URLSource"}), "cloud_type"),
        (
            json!({"cloud_type": "AWS", "ak": "a", "sk": "x", "bucket_name": "b", "file_name": "x"}),
            "data_center",
        ),
    ] {
        let reply = api.post(&url, Some(&body)).await;
        reply.assert_error(400, "OMS.0064");
        assert!(reply.text.contains(&format!("[{field}]")), "{}", reply.text);
    }
    let objects = json!({"cloud_type": "AWS", "ak": fs.ak, "sk": fs.sk, "bucket_name": "present",
                         "file_path": "no-slash", "data_center": FS_REGION, "page_size": 10, "behind_filename": ""});
    api.post(
        &format!("/v2/{p}/objectstorage/buckets/objects"),
        Some(&objects),
    )
    .await
    .assert_error(400, "OMS.0064");
    let objects = json!({"cloud_type": "AWS", "ak": fs.ak, "sk": fs.sk, "bucket_name": "present",
                         "file_path": "/", "data_center": FS_REGION, "page_size": 101, "behind_filename": ""});
    api.post(
        &format!("/v2/{p}/objectstorage/buckets/objects"),
        Some(&objects),
    )
    .await
    .assert_error(400, "OMS.0064");
}

#[tokio::test]
async fn secrets_given_to_the_helpers_appear_in_no_response_log_or_database_byte() {
    let fs = S3Server::start("sec").await;
    fs.create_bucket("present").await;
    let oms = oms_with(
        vec![
            rule("AWS", FS_REGION, &fs.url),
            rule("HEC", FS_REGION, &fs.url),
        ],
        Overrides::default(),
    )
    .await;
    let api = oms.signed_client(&oms.a);
    let p = &oms.a.id;
    let secret = format!("HELPERSECRET{}", uuid::Uuid::new_v4().simple());
    let conn = format!(
        "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={secret};BlobEndpoint=http://127.0.0.1:9/acct/"
    );
    let bodies = [
        (
            "buckets",
            json!({"cloud_type": "AWS", "ak": fs.ak, "sk": secret}),
        ),
        (
            "buckets/objects",
            json!({"cloud_type": "AWS", "ak": fs.ak, "sk": secret, "bucket_name": "present", "file_path": "/", "data_center": FS_REGION, "page_size": 1, "behind_filename": ""}),
        ),
        (
            "buckets/regions",
            json!({"cloud_type": "AWS", "ak": fs.ak, "sk": secret, "bucket_name": "present"}),
        ),
        (
            "buckets/prefix",
            json!({"cloud_type": "AWS", "ak": fs.ak, "sk": fs.sk, "security_token": secret, "bucket_name": "present", "file_name": "x", "data_center": FS_REGION}),
        ),
        (
            "buckets/prefix",
            json!({"cloud_type": "Azure", "connection_string": conn, "bucket_name": "present", "file_name": "x", "data_center": FS_REGION}),
        ),
        (
            "buckets/prefix",
            json!({"cloud_type": "AWS", "ak": fs.ak, "sk": format!("{secret}<"), "bucket_name": "present", "file_name": "x", "data_center": FS_REGION}),
        ),
        (
            "buckets/url-source-list-file",
            json!({"obs_bucket": "present", "list_file_key": "l.txt", "ak": fs.ak, "sk": secret, "region": FS_REGION}),
        ),
        (
            "buckets/cdn-info",
            json!({"cloud_type": "AWS", "ak": fs.ak, "sk": secret, "region": FS_REGION, "bucket": "present",
                                     "prefix": {"keys": ["a"]},
                                     "source_cdn": {"domain": "localhost:9", "protocol": "http", "authentication_type": "ALIYUN_OSS_A", "authentication_key": secret}}),
        ),
    ];
    let mut responses = Vec::new();
    for (path, body) in &bodies {
        let reply = api
            .post(&format!("/v2/{p}/objectstorage/{path}"), Some(body))
            .await;
        assert_ne!(reply.status, 500, "{}", reply.text);
        assert_ne!(reply.status, 404, "{path}: {}", reply.text);
        responses.push(reply.text);
    }
    api.post(&format!("/v2/{p}/privacy-agreements"), None)
        .await
        .ok();
    let logs = captured_logs();
    let dump = crate::persistence::database_dump(&oms).await;
    assert!(
        !dump.is_empty() && logs.contains("privacy statement accepted"),
        "the checks must look at real data"
    );
    for text in &responses {
        assert!(
            !text.contains(&secret),
            "a response shows the secret: {text}"
        );
    }
    // The test's own S3 server logs the requests it receives (which must carry the keys);
    // every other line is omsd's.
    let omsd_lines = logs
        .lines()
        .filter(|l| !l.contains(" s3s::") && !l.contains(" s3s_fs::"));
    if let Some(line) = omsd_lines.clone().find(|l| l.contains(&secret)) {
        panic!("a log line shows the secret: {line}");
    }
    assert!(!dump.contains(&secret), "the database holds the secret");
}
