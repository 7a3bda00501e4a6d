//! The helpers that read through a store: a URL-list file checked with the engine's rules, a
//! CDN compared with its bucket through signed URLs, an Azure container searched with a
//! connection string, a Google account asked through the XML API.

use serde_json::json;

use super::{FS_REGION, oms_with};
use crate::engine::rule;
use crate::support::fixtures::google_account;
use crate::support::harness::Overrides;
use crate::support::origin::Origin;
use crate::support::s3::S3Server;

#[tokio::test]
async fn url_list_files_are_checked_line_by_line_with_the_engines_rules() {
    let fs = S3Server::start("lists").await;
    fs.create_bucket("lists").await;
    let text = Some("text/plain");
    let good = "http://example.com/a.jpg\tphotos/a.jpg\n\nhttps://example.com/b%20c.jpg\tphotos/b%20c.jpg\r\n";
    fs.put("lists", "good.txt", good.as_bytes().to_vec(), text, &[])
        .await;
    fs.put(
        "lists",
        "bad.txt",
        b"http://example.com/a\ta\nhttp://example.com/b b\n".to_vec(),
        text,
        &[],
    )
    .await;
    fs.put(
        "lists",
        "binary.txt",
        good.as_bytes().to_vec(),
        Some("application/octet-stream"),
        &[],
    )
    .await;
    fs.put("lists", "big.txt", good.repeat(10).into_bytes(), text, &[])
        .await;
    fs.put("lists", "folder/1.txt", good.as_bytes().to_vec(), text, &[])
        .await;
    fs.put(
        "lists",
        "folder/2.txt",
        b"ftp://example.com/a\ta\n".to_vec(),
        text,
        &[],
    )
    .await;
    fs.put(
        "lists",
        "okfolder/1.txt",
        good.as_bytes().to_vec(),
        text,
        &[],
    )
    .await;
    let oms = oms_with(
        vec![rule("HEC", FS_REGION, &fs.url)],
        Overrides {
            max_list_file_bytes: Some(500),
            ..Overrides::default()
        },
    )
    .await;
    let api = oms.signed_client(&oms.a);
    let url = format!(
        "/v2/{}/objectstorage/buckets/url-source-list-file",
        oms.a.id
    );
    let body = |key: &str, sk: &str| json!({"obs_bucket": "lists", "list_file_key": key, "ak": fs.ak, "sk": sk, "region": FS_REGION});

    assert_eq!(
        api.post(&url, Some(&body("good.txt", &fs.sk))).await.ok(),
        &json!({})
    );
    assert_eq!(
        api.post(&url, Some(&body("okfolder/", &fs.sk))).await.ok(),
        &json!({})
    );
    for (key, says) in [
        (
            "bad.txt",
            "the list file lists/bad.txt: line 2: it is not '<URL><TAB><destination name>'",
        ),
        (
            "folder/",
            "the list file lists/folder/2.txt: line 1: 'ftp://example.com/a' is not an http(s) URL",
        ),
        ("binary.txt", "must have Content-Type text/plain"),
        ("big.txt", "at most 500 are allowed"),
        (
            "missing.txt",
            "the list file lists/missing.txt: it does not exist",
        ),
        ("list.csv", "is not a .txt file"),
        ("nothing/", "the folder lists/nothing/ holds no list files"),
    ] {
        let reply = api.post(&url, Some(&body(key, &fs.sk))).await;
        reply.assert_error(400, "OMS.0064");
        assert!(reply.msg().contains(says), "{key}: {}", reply.text);
        assert_eq!(
            reply.body["error_detail"],
            "request parameter [list_file_key] invalid"
        );
    }
    let wrong = api
        .post(&url, Some(&body("good.txt", "not-the-secret")))
        .await;
    wrong.assert_error(400, "OMS.0153");
    assert!(
        wrong.msg().starts_with("The destination store"),
        "{}",
        wrong.text
    );
}

#[tokio::test]
async fn a_cdn_is_compared_with_its_bucket_key_by_key_through_signed_urls() {
    const KEY: &str = "cdn-key-catalogue";
    let fs = S3Server::start("cdn").await;
    fs.create_bucket("site").await;
    for (key, bytes) in [("a.txt", "alpha"), ("b.txt", "bravo"), ("c.txt", "charlie")] {
        fs.put("site", key, bytes.as_bytes().to_vec(), None, &[])
            .await;
    }
    let origin = Origin::start().await;
    origin.add("/a.txt", b"alpha".to_vec());
    origin.add("/b.txt", b"bravo, changed".to_vec());
    origin.require_signature("ALIYUN_OSS_A", KEY);
    let oms = oms_with(
        vec![rule("AWS", FS_REGION, &fs.url)],
        Overrides {
            allow_private_networks: true,
            ..Overrides::default()
        },
    )
    .await;
    let api = oms.signed_client(&oms.a);
    let url = format!("/v2/{}/objectstorage/buckets/cdn-info", oms.a.id);
    let body = |keys: &[&str], key: &str| {
        json!({"cloud_type": "AWS", "ak": fs.ak, "sk": fs.sk, "region": FS_REGION, "bucket": "site",
               "prefix": {"keys": keys},
               "source_cdn": {"domain": origin.authority, "protocol": "http", "authentication_type": "ALIYUN_OSS_A", "authentication_key": key}})
    };
    let all = api
        .post(
            &url,
            Some(&body(&["a.txt", "b.txt", "c.txt", "d.txt"], KEY)),
        )
        .await;
    assert_eq!(
        all.ok(),
        &json!({"is_same_cloud_type": false, "is_download_available": false, "checked_keys": [
            {"key": "a.txt", "is_etag_matching": true, "is_object_existing": true},
            {"key": "b.txt", "is_etag_matching": false, "is_object_existing": true},
            {"key": "c.txt", "is_etag_matching": false, "is_object_existing": true},
            {"key": "d.txt", "is_etag_matching": false, "is_object_existing": false},
        ]})
    );
    let same = api.post(&url, Some(&body(&["a.txt"], KEY))).await;
    assert_eq!(same.ok()["is_same_cloud_type"], true);
    assert_eq!(same.ok()["is_download_available"], true);
    let served_before = origin.requests();
    // With the wrong key the CDN refuses every signed URL: nothing is available through it.
    let refused = api.post(&url, Some(&body(&["a.txt"], "not-the-key"))).await;
    assert_eq!(refused.ok()["is_download_available"], false);
    assert_eq!(refused.ok()["checked_keys"][0]["is_etag_matching"], false);
    assert!(origin.refused() > 0 && origin.requests() > served_before);
    // The bucket's keys are checked too: wrong ones fail the call, naming the source.
    let mut wrong = body(&["a.txt"], KEY);
    wrong["sk"] = json!("not-the-secret");
    let reply = api.post(&url, Some(&wrong)).await;
    reply.assert_error(400, "OMS.0153");
    assert!(
        reply.msg().starts_with("The source store"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn azure_containers_are_listed_and_searched_with_a_connection_string() {
    use crate::support::azurite::{ACCOUNT_KEY, Azurite};
    let Some(azurite) = Azurite::start_or_skip().await else {
        return;
    };
    azurite.create_container("media").await;
    for (name, size) in [
        ("clips/a.mp4", 3),
        ("clips/b.mp4", 4),
        ("clips/2024/c.mp4", 5),
        ("top.txt", 6),
    ] {
        azurite.put_blob("media", name, vec![b'z'; size]).await;
    }
    let oms = oms_with(
        Vec::new(),
        Overrides {
            allow_private_networks: true,
            ..Overrides::default()
        },
    )
    .await;
    let api = oms.signed_client(&oms.a);
    let p = &oms.a.id;
    let conn = azurite.connection_string(ACCOUNT_KEY);
    let objects = json!({"cloud_type": "Azure", "connection_string": conn, "bucket_name": "media",
                         "file_path": "clips/", "data_center": "", "page_size": 2, "behind_filename": ""});
    let page = api
        .post(
            &format!("/v2/{p}/objectstorage/buckets/objects"),
            Some(&objects),
        )
        .await;
    assert_eq!(
        page.ok(),
        &json!({"next_page": true, "next_marker": "clips/a.mp4",
                "records": [{"name": "clips/2024/c.mp4", "size": "5"}, {"name": "clips/a.mp4", "size": "3"}]})
    );
    let prefix = |name: &str, conn: &str| json!({"cloud_type": "Azure", "connection_string": conn, "bucket_name": "media", "file_name": name, "data_center": ""});
    let url = format!("/v2/{p}/objectstorage/buckets/prefix");
    assert_eq!(
        api.post(&url, Some(&prefix("clips/20", &conn))).await.ok(),
        &json!({"exist": true})
    );
    assert_eq!(
        api.post(&url, Some(&prefix("video/", &conn))).await.ok(),
        &json!({"exist": false})
    );
    let wrong = azurite.connection_string("d3Jvbmcta2V5LXdyb25nLWtleQ==");
    let reply = api.post(&url, Some(&prefix("clips/", &wrong))).await;
    reply.assert_error(400, "OMS.0153");
    // Azurite answers a wrong account key with 403 AuthorizationFailure.
    assert!(
        reply
            .msg()
            .starts_with("The source store cannot look the name up")
            && reply.msg().contains("HTTP 403"),
        "{}",
        reply.text
    );
    // The containers the connection string sees; Azure does not tell an account's region.
    azurite.create_container("backup").await;
    let buckets = api
        .post(
            &format!("/v2/{p}/objectstorage/buckets"),
            Some(&json!({"cloud_type": "Azure", "connection_string": conn})),
        )
        .await;
    assert_eq!(buckets.ok(), &json!(["backup", "media"]));
    let region = api
        .post(
            &format!("/v2/{p}/objectstorage/buckets/regions"),
            Some(
                &json!({"cloud_type": "Azure", "connection_string": conn, "bucket_name": "media"}),
            ),
        )
        .await;
    assert_eq!(region.ok(), &json!({"id": "", "name": "", "support": true}));
    let refused = api
        .post(
            &format!("/v2/{p}/objectstorage/buckets"),
            Some(&json!({"cloud_type": "Azure", "connection_string": wrong})),
        )
        .await;
    refused.assert_error(400, "OMS.0153");
}

/// Google's XML API is the S3 v1 dialect (GET Service, `?location`, `ListBucketResult`): moto
/// answers it, so the Google connector's account calls are exercised over HTTP against a real
/// server (no GCS emulator available here accepts them).
#[tokio::test]
async fn google_buckets_regions_and_objects_are_read_through_the_xml_api() {
    let Some(moto) = crate::support::moto::Moto::start_or_skip().await else {
        return;
    };
    let s3 = crate::support::s3::client(&moto.url, "MOTOKEY", "motosecret");
    s3.create_bucket().bucket("shots").send().await.unwrap();
    s3.create_bucket()
        .bucket("vault")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::ApSoutheast1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for (key, size) in [("2024/a b.jpg", 3), ("2024/c+d.jpg", 4), ("top.txt", 5)] {
        s3.put_object()
            .bucket("shots")
            .key(key)
            .body(vec![b'g'; size].into())
            .send()
            .await
            .unwrap();
    }
    let oms = oms_with(
        Vec::new(),
        Overrides {
            allow_private_networks: true,
            ..Overrides::default()
        },
    )
    .await;
    let api = oms.signed_client(&oms.a);
    let p = &oms.a.id;
    let account = google_account(&moto.url, Some("shop-prod"));

    let buckets = api
        .post(
            &format!("/v2/{p}/objectstorage/buckets"),
            Some(&json!({"cloud_type": "Google", "json_auth_file": account})),
        )
        .await;
    assert_eq!(buckets.ok(), &json!(["shots", "vault"]));
    let region = |bucket: &str| json!({"cloud_type": "Google", "json_auth_file": account, "bucket_name": bucket});
    let regions = format!("/v2/{p}/objectstorage/buckets/regions");
    assert_eq!(
        api.post(&regions, Some(&region("vault"))).await.ok(),
        &json!({"id": "ap-southeast-1", "name": "ap-southeast-1", "support": true})
    );
    // A bucket whose location the store does not name has none to show.
    assert_eq!(
        api.post(&regions, Some(&region("shots"))).await.ok(),
        &json!({"id": "", "name": "", "support": true})
    );
    let missing = api.post(&regions, Some(&region("gone"))).await;
    missing.assert_error(400, "OMS.0153");
    assert!(missing.msg().contains("source"), "{}", missing.text);

    let objects = json!({"cloud_type": "Google", "json_auth_file": account, "bucket_name": "shots",
                         "file_path": "2024/", "data_center": "", "page_size": 10, "behind_filename": ""});
    let page = api
        .post(
            &format!("/v2/{p}/objectstorage/buckets/objects"),
            Some(&objects),
        )
        .await;
    assert_eq!(
        page.ok(),
        &json!({"next_page": false, "next_marker": "2024/c+d.jpg",
                "records": [{"name": "2024/a b.jpg", "size": "3"}, {"name": "2024/c+d.jpg", "size": "4"}]})
    );

    // Without a project, GET Service has nothing to ask for: a 400 naming the cause.
    let no_project = api
        .post(
            &format!("/v2/{p}/objectstorage/buckets"),
            Some(
                &json!({"cloud_type": "Google", "json_auth_file": google_account(&moto.url, None)}),
            ),
        )
        .await;
    no_project.assert_error(400, "OMS.0153");
    assert!(
        no_project.msg().contains("project_id"),
        "{}",
        no_project.text
    );
}
