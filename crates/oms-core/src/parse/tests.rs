use serde_json::{Value, json};

use super::*;
use crate::model::StartRequest;
use crate::testing::{with, without};
use crate::wire::{CreateTaskReq, StartTaskReq};

fn valid_task() -> Value {
    json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "AWS", "region": "us-east-1", "ak": "SRCAK", "sk": "SRCSK",
                     "bucket": "src", "object_key": [""]},
        "dst_node": {"ak": "DSTAK", "sk": "DSTSK", "region": "cn-north-4", "bucket": "dst"},
    })
}

fn task(body: Value) -> Result<NewMigration> {
    create_task(serde_json::from_value::<CreateTaskReq>(body).unwrap())
}

fn group(body: Value) -> Result<NewMigration> {
    create_task_group(serde_json::from_value::<CreateTaskReq>(body).unwrap())
}

fn field_of(result: Result<NewMigration>) -> String {
    result.unwrap_err().field
}

#[test]
fn a_valid_prefix_task_parses_with_defaults() {
    let parsed = task(valid_task()).unwrap();
    assert_eq!(parsed.spec.kind, TaskKind::Prefix);
    assert_eq!(
        parsed.spec.object_overwrite_mode,
        OverwriteMode::SizeLastModified
    );
    assert_eq!(
        parsed.spec.consistency_check,
        ConsistencyCheck::SizeLastModified
    );
    assert!(parsed.spec.enable_failed_object_recording);
    assert_eq!(parsed.priority, TaskPriority::Medium);
    assert_eq!(parsed.credentials.destination.sk.expose_secret(), "DSTSK");
}

#[test]
fn the_default_task_type_is_object_and_needs_keys() {
    let body = with(
        without(valid_task(), "/task_type"),
        "/src_node/object_key",
        json!(["a.txt", "dir/"]),
    );
    assert_eq!(task(body.clone()).unwrap().spec.kind, TaskKind::Object);
    // `[""]` is the whole bucket (the Terraform provider sends it for `object = [""]`).
    let whole = task(with(body.clone(), "/src_node/object_key", json!([""]))).unwrap();
    assert_eq!(whole.spec.source.object_keys, vec![String::new()]);
    assert_eq!(
        field_of(task(with(body, "/src_node/object_key", json!([])))),
        "src_node.object_key"
    );
}

#[test]
fn required_fields_are_named() {
    for (pointer, field) in [
        ("/src_node", "src_node"),
        ("/dst_node", "dst_node"),
        ("/dst_node/ak", "dst_node.ak"),
        ("/dst_node/sk", "dst_node.sk"),
        ("/dst_node/bucket", "dst_node.bucket"),
        ("/dst_node/region", "dst_node.region"),
        ("/src_node/ak", "src_node.ak"),
        ("/src_node/sk", "src_node.sk"),
        ("/src_node/bucket", "src_node.bucket"),
        ("/src_node/region", "src_node.region"),
        ("/src_node/object_key", "src_node.object_key"),
    ] {
        assert_eq!(
            field_of(task(without(valid_task(), pointer))),
            field,
            "{pointer}"
        );
    }
}

#[test]
fn enums_are_checked() {
    for (pointer, bad, field) in [
        ("/task_type", "folder", "task_type"),
        ("/src_node/cloud_type", "Dropbox", "src_node.cloud_type"),
        (
            "/object_overwrite_mode",
            "SOMETIMES",
            "object_overwrite_mode",
        ),
        ("/consistency_check", "md5", "consistency_check"),
        ("/dst_storage_policy", "COLD", "dst_storage_policy"),
        ("/task_priority", "URGENT", "task_priority"),
    ] {
        assert_eq!(
            field_of(task(with(valid_task(), pointer, json!(bad)))),
            field,
            "{pointer}"
        );
    }
}

#[test]
fn lengths_and_the_no_xss_pattern_are_checked() {
    assert_eq!(
        field_of(task(with(valid_task(), "/src_node/bucket", json!("a<b")))),
        "src_node.bucket"
    );
    assert_eq!(
        field_of(task(with(
            valid_task(),
            "/dst_node/ak",
            json!("x".repeat(101))
        ))),
        "dst_node.ak"
    );
    assert_eq!(
        field_of(task(with(
            valid_task(),
            "/src_node/region",
            json!("r".repeat(101))
        ))),
        "src_node.region"
    );
    assert_eq!(
        field_of(task(with(valid_task(), "/dst_node/sk", json!("a'b")))),
        "dst_node.sk"
    );
}

#[test]
fn description_limits() {
    assert!(task(with(valid_task(), "/description", json!("d".repeat(255)))).is_ok());
    assert_eq!(
        field_of(task(with(
            valid_task(),
            "/description",
            json!("d".repeat(256))
        ))),
        "description"
    );
    for bad in ["a^b", "a<b", "a->b", "a&b", "a\"b", "a'b", "a\\b"] {
        assert_eq!(
            field_of(task(with(valid_task(), "/description", json!(bad)))),
            "description",
            "{bad}"
        );
    }
}

#[test]
fn url_lists_need_url_source_a_list_file_and_no_source_keys() {
    let url = json!({
        "task_type": "url_list",
        "src_node": {"cloud_type": "URLSource", "list_file": {"list_file_key": "urls.txt", "obs_bucket": "dst"}},
        "dst_node": {"ak": "A", "sk": "S", "region": "r", "bucket": "dst"},
        "consistency_check": "no_check",
    });
    assert_eq!(task(url.clone()).unwrap().spec.kind, TaskKind::UrlList);
    assert_eq!(
        field_of(task(with(
            url.clone(),
            "/src_node/cloud_type",
            json!("AWS")
        ))),
        "src_node.cloud_type"
    );
    assert_eq!(
        field_of(task(without(url.clone(), "/src_node/list_file"))),
        "src_node.list_file"
    );
    assert_eq!(
        field_of(task(with(url, "/src_node/ak", json!("AK")))),
        "src_node.ak"
    );
    assert_eq!(
        field_of(task(with(
            valid_task(),
            "/src_node/cloud_type",
            json!("URLSource")
        ))),
        "src_node.cloud_type"
    );
    assert_eq!(
        field_of(task(with(
            valid_task(),
            "/consistency_check",
            json!("no_check")
        ))),
        "consistency_check"
    );
}

#[test]
fn google_and_azure_need_their_own_credentials() {
    let google = with(
        without(without(valid_task(), "/src_node/ak"), "/src_node/sk"),
        "/src_node/cloud_type",
        json!("Google"),
    );
    assert_eq!(field_of(task(google.clone())), "src_node.json_auth_file");
    assert_eq!(
        field_of(task(with(
            google.clone(),
            "/src_node/json_auth_file",
            json!("{not json")
        ))),
        "src_node.json_auth_file"
    );
    let key = json!({"type": "service_account", "client_email": "m@p.iam.gserviceaccount.com", "private_key": "-----BEGIN"}).to_string();
    assert!(task(with(google, "/src_node/json_auth_file", json!(key))).is_ok());

    let azure = with(
        without(without(valid_task(), "/src_node/ak"), "/src_node/sk"),
        "/src_node/cloud_type",
        json!("Azure"),
    );
    assert_eq!(field_of(task(azure.clone())), "src_node.connection_string");
    assert_eq!(
        field_of(task(with(
            azure.clone(),
            "/src_node/connection_string",
            json!("garbage")
        ))),
        "src_node.connection_string"
    );
    let conn = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;";
    assert!(task(with(azure, "/src_node/connection_string", json!(conn))).is_ok());
}

#[test]
fn tencent_needs_an_app_id() {
    let body = with(valid_task(), "/src_node/cloud_type", json!("Tencent"));
    assert_eq!(field_of(task(body.clone())), "src_node.app_id");
    assert!(task(with(body, "/src_node/app_id", json!("1250000000"))).is_ok());
}

#[test]
fn bandwidth_windows_are_checked() {
    let ok = json!([{"start": "22:00", "end": "06:00", "max_bandwidth": 10_485_760}]);
    assert_eq!(
        task(with(valid_task(), "/bandwidth_policy", ok))
            .unwrap()
            .bandwidth_policy
            .windows()
            .len(),
        1
    );
    for (windows, field) in [
        (
            json!([{"start": "25:00", "end": "06:00", "max_bandwidth": 1_048_576}]),
            "bandwidth_policy[0].start",
        ),
        (
            json!([{"start": "01:00", "end": "06:00", "max_bandwidth": 1000}]),
            "bandwidth_policy[0].max_bandwidth",
        ),
        (
            json!([{"start": "01:00", "end": "06:00", "max_bandwidth": 209_715_201_i64}]),
            "bandwidth_policy[0].max_bandwidth",
        ),
        (
            json!([{"start": "01:00", "max_bandwidth": 1_048_576}]),
            "bandwidth_policy[0].end",
        ),
        (
            json!([{"start": "01:00", "end": "06:00", "max_bandwidth": 1_048_576},
                   {"start": "05:00", "end": "07:00", "max_bandwidth": 1_048_576}]),
            "bandwidth_policy[1]",
        ),
    ] {
        assert_eq!(
            field_of(task(with(valid_task(), "/bandwidth_policy", windows))),
            field
        );
    }
}

#[test]
fn kms_asks_for_sse_kms_at_the_destination() {
    let key = "0a1b2c3d-0000-1111-2222-333344445555";
    let kms = |body| task(body).unwrap().spec.destination.kms;
    assert_eq!(kms(valid_task()), None);
    assert_eq!(
        kms(with(valid_task(), "/enable_kms", json!(true))),
        Some(Kms { key_id: None })
    );
    assert_eq!(kms(with(valid_task(), "/enable_kms", json!(false))), None);
    let keyed = with(
        with(valid_task(), "/dst_node/crypto_type", json!("kms")),
        "/dst_node/kms_key_id",
        json!(key),
    );
    assert_eq!(
        kms(keyed.clone()),
        Some(Kms {
            key_id: Some(key.to_owned())
        })
    );
    // The Go SDK always sends enable_kms (false).
    assert!(kms(with(keyed, "/enable_kms", json!(false))).is_some());
    for (body, field) in [
        (
            with(valid_task(), "/dst_node/crypto_type", json!("SM4")),
            "dst_node.crypto_type",
        ),
        (
            with(valid_task(), "/dst_node/kms_key_id", json!(key)),
            "dst_node.kms_key_id",
        ),
        (
            with(
                with(valid_task(), "/dst_node/crypto_type", json!("KMS")),
                "/dst_node/kms_key_id",
                json!("0A1B2C3D-0000-1111-2222-333344445555"),
            ),
            "dst_node.kms_key_id",
        ),
        (
            with(
                with(valid_task(), "/dst_node/crypto_type", json!("DEFAULT")),
                "/enable_kms",
                json!(true),
            ),
            "enable_kms",
        ),
    ] {
        assert_eq!(field_of(task(body)), field);
    }
    // A source's SSE-KMS objects are decrypted by their store: taken, nothing to do.
    assert!(task(with(valid_task(), "/src_node/crypto_type", json!("KMS"))).is_ok());
}

#[test]
fn start_takes_the_crypto_fields_as_creation_does() {
    let key = "0a1b2c3d-0000-1111-2222-333344445555";
    let mut spec = task(valid_task()).unwrap().spec;
    spec.destination.kms = Some(Kms {
        key_id: Some(key.to_owned()),
    });
    let keys = json!({"src_ak": "a", "src_sk": "b", "dst_ak": "c", "dst_sk": "d"});
    assert!(start_of(keys.clone(), &spec).is_ok());
    let same = with(
        with(keys.clone(), "/dst_crypto_type", json!("KMS")),
        "/dst_kms_key_id",
        json!(key),
    );
    assert!(start_of(same.clone(), &spec).is_ok());
    assert!(start_of(with(same, "/src_crypto_type", json!("KMS")), &spec).is_ok());
    let other = with(
        with(keys.clone(), "/dst_crypto_type", json!("KMS")),
        "/dst_kms_key_id",
        json!("ffffffff-0000-1111-2222-333344445555"),
    );
    let err = start_of(other, &spec).unwrap_err();
    assert_eq!(err.field, "dst_kms_key_id");
    assert!(err.reason.contains("cannot change"), "{}", err.reason);
    let none = with(keys.clone(), "/dst_crypto_type", json!("DEFAULT"));
    assert_eq!(start_of(none, &spec).unwrap_err().field, "dst_crypto_type");
    let cdn = with(keys.clone(), "/source_cdn_crypto_type", json!("KMS"));
    assert_eq!(
        start_of(cdn, &spec).unwrap_err().field,
        "source_cdn_crypto_type"
    );
    let bad = with(keys, "/src_kms_key_id", json!(key));
    assert_eq!(start_of(bad, &spec).unwrap_err().field, "src_kms_key_id");
}

#[test]
fn cdn_needs_a_key_when_it_signs() {
    let cdn = json!({"domain": "cdn.example.com", "protocol": "https", "authentication_type": "ALIYUN_OSS_A"});
    assert_eq!(
        field_of(task(with(valid_task(), "/source_cdn", cdn.clone()))),
        "source_cdn.authentication_key"
    );
    let keyed = with(cdn.clone(), "/authentication_key", json!("k3y"));
    let parsed = task(with(valid_task(), "/source_cdn", keyed)).unwrap();
    assert!(parsed.credentials.cdn_key.is_some());
    let public = with(cdn.clone(), "/authentication_type", json!("NONE"));
    assert!(task(with(valid_task(), "/source_cdn", public)).is_ok());
    for bad in [
        "x",
        "1.2.3.4",
        "a.myhuaweicloud.com",
        "-bad-.com",
        "a_b.com",
        "cdn.example.com:0",
        "cdn.example.com:99999",
        "cdn.example.com:",
        "1.2.3.4:8080",
    ] {
        let body = with(
            valid_task(),
            "/source_cdn",
            with(
                with(cdn.clone(), "/domain", json!(bad)),
                "/authentication_key",
                json!("k"),
            ),
        );
        assert_eq!(field_of(task(body)), "source_cdn.domain", "{bad}");
    }
    let on_a_port = with(
        with(cdn, "/domain", json!("origin.example.com:8080")),
        "/authentication_key",
        json!("k"),
    );
    assert!(task(with(valid_task(), "/source_cdn", on_a_port)).is_ok());
}

#[test]
fn groups_use_upper_case_types_and_have_no_object_mode() {
    let body = with(valid_task(), "/task_type", json!("PREFIX"));
    assert_eq!(group(body.clone()).unwrap().spec.kind, TaskKind::Prefix);
    assert_eq!(
        group(without(body.clone(), "/task_type"))
            .unwrap()
            .spec
            .kind,
        TaskKind::Prefix
    );
    assert_eq!(
        field_of(group(with(body.clone(), "/task_type", json!("object")))),
        "task_type"
    );
    assert_eq!(
        field_of(group(with(body, "/dst_node/cloud_type", json!("AWS")))),
        "dst_node.cloud_type"
    );
}

#[test]
fn migrate_since_is_seconds() {
    assert_eq!(
        task(with(valid_task(), "/migrate_since", json!(1_700_000_000)))
            .unwrap()
            .spec
            .migrate_since_secs,
        1_700_000_000
    );
    assert_eq!(
        field_of(task(with(
            valid_task(),
            "/migrate_since",
            json!(1_700_000_000_000_i64)
        ))),
        "migrate_since"
    );
    assert_eq!(
        field_of(task(with(valid_task(), "/migrate_since", json!(-1)))),
        "migrate_since"
    );
}

fn start_of(body: Value, spec: &MigrationSpec) -> Result<StartRequest> {
    start(serde_json::from_value::<StartTaskReq>(body).unwrap(), spec)
}

#[test]
fn start_requires_destination_keys_and_the_source_keys_the_source_needs() {
    let spec = task(valid_task()).unwrap().spec;
    let ok = json!({"src_ak": "a", "src_sk": "b", "dst_ak": "c", "dst_sk": "d"});
    assert!(!start_of(ok.clone(), &spec).unwrap().migrate_failed_objects);
    assert_eq!(
        start_of(without(ok.clone(), "/dst_ak"), &spec)
            .unwrap_err()
            .field,
        "dst_ak"
    );
    assert_eq!(
        start_of(without(ok.clone(), "/dst_sk"), &spec)
            .unwrap_err()
            .field,
        "dst_sk"
    );
    assert_eq!(
        start_of(without(ok.clone(), "/src_sk"), &spec)
            .unwrap_err()
            .field,
        "src_sk"
    );
    assert_eq!(
        start_of(with(ok, "/dst_ak", json!("")), &spec)
            .unwrap_err()
            .field,
        "dst_ak"
    );
}

#[test]
fn start_of_a_cdn_source_needs_the_cdn_key() {
    let cdn = json!({"domain": "cdn.example.com", "protocol": "https", "authentication_type": "TENCENT_COS_A", "authentication_key": "k"});
    let spec = task(with(valid_task(), "/source_cdn", cdn)).unwrap().spec;
    let body = json!({"src_ak": "a", "src_sk": "b", "dst_ak": "c", "dst_sk": "d"});
    assert_eq!(
        start_of(body.clone(), &spec).unwrap_err().field,
        "source_cdn_authentication_key"
    );
    assert!(
        start_of(
            with(body, "/source_cdn_authentication_key", json!("k2")),
            &spec
        )
        .is_ok()
    );
}

#[test]
fn batch_update_needs_exactly_one_selector() {
    let parse = |v: Value| batch_update(serde_json::from_value(v).unwrap());
    let bp = json!([]);
    assert!(parse(json!({"ids": [191_297_407_830_872_i64], "bandwidth_policy": bp})).is_ok());
    assert!(
        parse(json!({"group_id": "157ece42-3270-4824-a3d2-f0187a03ca01", "bandwidth_policy": bp}))
            .is_ok()
    );
    assert_eq!(
        parse(json!({"bandwidth_policy": bp})).unwrap_err().field,
        "ids"
    );
    assert_eq!(parse(json!({"ids": [1], "group_id": "157ece42-3270-4824-a3d2-f0187a03ca01", "bandwidth_policy": bp})).unwrap_err().field, "ids");
    assert_eq!(
        parse(json!({"ids": [1]})).unwrap_err().field,
        "bandwidth_policy"
    );
    assert_eq!(
        parse(json!({"group_id": "nope", "bandwidth_policy": bp}))
            .unwrap_err()
            .field,
        "group_id"
    );
    assert_eq!(
        parse(json!({"ids": [1], "bandwidth_policy": bp, "task_priority": "NOW"}))
            .unwrap_err()
            .field,
        "task_priority"
    );
}
