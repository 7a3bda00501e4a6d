//! Azure connector tests: connection strings, listings, signing, and a live run against
//! Azurite when `OMS_AZURITE` names an `azurite-blob` executable.

use std::time::Duration;

use reqwest::header::HeaderValue;

use super::AzureSource;
use super::*;
use crate::guard::Guard;

fn settings(allow_private_networks: bool) -> CloudSettings {
    CloudSettings {
        guard: Guard {
            allow_private_networks,
        },
        connect_timeout: Duration::from_secs(1),
        operation_timeout: Duration::from_secs(1),
    }
}

#[test]
fn connection_strings_name_account_key_and_endpoint() {
    let parsed = parse_connection_string(
        "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=a2V5;EndpointSuffix=core.chinacloudapi.cn",
    )
    .unwrap();
    assert_eq!(parsed.account.as_deref(), Some("acme"));
    assert_eq!(
        parsed.endpoint.as_deref(),
        Some("https://acme.blob.core.chinacloudapi.cn")
    );
    let dev = parse_connection_string("UseDevelopmentStorage=true").unwrap();
    assert_eq!(
        dev.endpoint.as_deref(),
        Some("http://127.0.0.1:10000/devstoreaccount1")
    );
    let sas = parse_connection_string(
        "BlobEndpoint=https://acme.blob.core.windows.net/;AccountName=acme;SharedAccessSignature=sv=2022&sig=abc",
    )
    .unwrap();
    assert_eq!(
        sas.endpoint.as_deref(),
        Some("https://acme.blob.core.windows.net")
    );
    assert!(sas.sas.is_some());
    assert!(parse_connection_string("AccountName=acme").is_err());
    assert!(parse_connection_string("AccountKey=a2V5").is_err());
}

#[test]
fn endpoints_in_credentials_pass_the_guard() {
    let conn = SecretString::from(
        "AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://169.254.169.254/x",
    );
    let err = AzureSource::new(&settings(false), &conn, "c").unwrap_err();
    assert_eq!(err.code.as_deref(), Some(crate::guard::IP_FORBIDDEN));
    assert!(
        AzureSource::new(&settings(true), &conn, "c").is_err(),
        "metadata services stay refused"
    );
    let private = SecretString::from(
        "AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://10.0.0.7:10000/x",
    );
    assert!(AzureSource::new(&settings(false), &private, "c").is_err());
    let source = AzureSource::new(&settings(true), &private, "c").unwrap();
    assert_eq!(
        source.identity(),
        "azure:http://10.0.0.7:10000/x/devstoreaccount1"
    );
    let not_base64 = SecretString::from("AccountName=acme;AccountKey=not base64!");
    assert_eq!(
        AzureSource::new(&settings(true), &not_base64, "c")
            .unwrap_err()
            .kind,
        ErrorKind::BadCredentials
    );
}

#[test]
fn enumeration_results_give_exact_names_in_the_stores_order() {
    let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="media">
  <Prefix></Prefix>
  <MaxResults>3</MaxResults>
  <Blobs>
    <Blob>
      <Name>dir/sub/deep.bin</Name>
      <Properties>
        <Creation-Time>Mon, 01 Jan 2024 00:00:00 GMT</Creation-Time>
        <Last-Modified>Tue, 02 Jan 2024 03:04:05 GMT</Last-Modified>
        <Etag>0x8DC0A1B2C3D4E5F</Etag>
        <Content-Length>12</Content-Length>
        <Content-Type>application/octet-stream</Content-Type>
        <BlobType>BlockBlob</BlobType>
        <AccessTier>Cool</AccessTier>
        <AccessTierInferred>false</AccessTierInferred>
      </Properties>
      <Metadata />
    </Blob>
    <Blob><Name>dir/</Name><Properties><Etag>"0x1"</Etag><Content-Length>0</Content-Length></Properties></Blob>
    <Blob><Name Encoded="true">bad%EF%BF%BFname%2B%20</Name><Properties><Content-Length>1</Content-Length></Properties></Blob>
    <Blob><Name> a &amp; b </Name><Properties><Content-Length>2</Content-Length></Properties></Blob>
    <Blob><Name>a//b</Name><Properties><Content-Length>3</Content-Length></Properties></Blob>
  </Blobs>
  <NextMarker>2!76!MDAwMDE4IWRpci9zdWIvZGVlcC5iaW4hMDAwMDI4ITk5OTktMTItMzFUMjM6NTk6NTkuOTk5OTk5OVoh</NextMarker>
</EnumerationResults>"#;
    let listing = parse_listing(xml).unwrap();
    let keys: Vec<_> = listing.blobs.iter().map(|b| b.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "dir/sub/deep.bin",
            "dir/",
            "bad\u{ffff}name+ ",
            " a & b ",
            "a//b"
        ],
        "never sorted, trimmed or filtered"
    );
    let deep = &listing.blobs[0];
    assert_eq!(deep.size, 12);
    assert_eq!(deep.last_modified_ms, 1_704_164_645_000);
    assert_eq!(deep.etag.as_deref(), Some("0x8DC0A1B2C3D4E5F"));
    assert_eq!(deep.storage_class.as_deref(), Some("Cool"));
    assert_eq!(listing.blobs[1].etag.as_deref(), Some("0x1"));
    assert!(listing.next_marker.unwrap().starts_with("2!76!"));

    let last = parse_listing(
        r#"<EnumerationResults ContainerName="media"><Blobs><Blob><Name>x</Name><Properties><Content-Length>1</Content-Length></Properties></Blob></Blobs><NextMarker /></EnumerationResults>"#,
    )
    .unwrap();
    assert_eq!(last.blobs.len(), 1);
    assert_eq!(
        last.next_marker, None,
        "an empty NextMarker ends the listing"
    );

    let empty = parse_listing(
        r#"<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://x/" ContainerName="media"><Prefix>nothing/</Prefix><MaxResults>10</MaxResults><Blobs /><NextMarker /></EnumerationResults>"#,
    )
    .unwrap();
    assert_eq!(empty, Listing::default());

    assert!(parse_listing("<EnumerationResults><Blobs><Blob><Name>x</Name><Properties /></Blob></Blobs></EnumerationResults>").is_err(), "a blob without a size");
    assert!(parse_listing(r#"<EnumerationResults><Blobs><Blob><Name Encoded="true">%FF</Name><Properties><Content-Length>1</Content-Length></Properties></Blob></Blobs></EnumerationResults>"#).is_err());
}

/// Signatures computed apart from this code, with
/// `printf '%s' "$to_sign" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEY -binary | base64`.
#[test]
fn shared_key_signs_the_standard_string() {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &STANDARD.decode(DEV_KEY).unwrap());
    let headers = |pairs: &[(&'static str, &str)]| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    };
    let date = ("x-ms-date", "Mon, 01 Jan 2024 00:00:00 GMT");
    let version = ("x-ms-version", "2021-08-06");

    let list = Url::parse("http://127.0.0.1:10000/devstoreaccount1/media?restype=container&comp=list&maxresults=2&prefix=a%20b%2B&marker=a%2F%2Fb").unwrap();
    let to_sign = string_to_sign(
        "devstoreaccount1",
        &Method::GET,
        &list,
        &headers(&[version, date]),
    );
    assert_eq!(
        to_sign,
        "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Mon, 01 Jan 2024 00:00:00 GMT\nx-ms-version:2021-08-06\n/devstoreaccount1/devstoreaccount1/media\ncomp:list\nmarker:a//b\nmaxresults:2\nprefix:a b+\nrestype:container"
    );
    assert_eq!(
        signature(&key, &to_sign),
        "gK1DMdQQhURW90jG+Hu32I7ZIFqZ1I2xwngs6p3Ys4o="
    );

    let blob =
        Url::parse("http://127.0.0.1:10000/devstoreaccount1/media/dir/x%20y%25%3F%23").unwrap();
    let to_sign = string_to_sign(
        "devstoreaccount1",
        &Method::GET,
        &blob,
        &headers(&[
            date,
            version,
            ("x-ms-range", "bytes=2-6"),
            ("if-match", "\"0x8DC\""),
        ]),
    );
    assert_eq!(
        signature(&key, &to_sign),
        "4XwlVdLm2g4SghCmf77+rZjKYKe6nCc6ObuLueQ8X+0="
    );

    let put = Url::parse("https://acme.blob.core.windows.net/media/a//b").unwrap();
    let to_sign = string_to_sign(
        "acme",
        &Method::PUT,
        &put,
        &headers(&[
            date,
            version,
            ("content-length", "5"),
            ("x-ms-blob-type", "BlockBlob"),
        ]),
    );
    assert_eq!(
        signature(&key, &to_sign),
        "Ao7AscghZrqt+5DVxzyofUU4vWd/JdO0wPYmZDEP67M="
    );
    let empty = string_to_sign(
        "acme",
        &Method::PUT,
        &put,
        &headers(&[("content-length", "0")]),
    );
    assert!(
        empty.starts_with("PUT\n\n\n\n"),
        "a zero Content-Length is signed empty"
    );
}

#[test]
fn markers_are_remembered_per_prefix_and_last_key_within_a_bound() {
    let markers = Markers::default();
    markers.remember("p/", "p/a", "m1");
    assert_eq!(markers.find("p/", "p/a").as_deref(), Some("m1"));
    assert_eq!(markers.find("", "p/a"), None, "another prefix");
    markers.remember("p/", "p/a", "m2");
    assert_eq!(markers.find("p/", "p/a").as_deref(), Some("m2"));
    for i in 0..REMEMBERED_MARKERS {
        markers.remember("q/", &format!("q/{i}"), "m");
    }
    assert_eq!(markers.find("p/", "p/a"), None, "the oldest is forgotten");
    assert!(markers.find("q/", "q/0").is_some());
    assert_eq!(markers.0.lock().unwrap().len(), REMEMBERED_MARKERS);
}

#[test]
fn shared_access_signatures_ride_on_every_url_and_nothing_is_signed() {
    let conn = SecretString::from(
        "BlobEndpoint=http://10.0.0.7:10000/acme;AccountName=acme;SharedAccessSignature=?sv=2021-08-06&sig=a%2Bb",
    );
    let source = AzureSource::new(&settings(true), &conn, "media").unwrap();
    let call = source.call("GetBlob", Some("a b"));
    let path = source.blob_path(&call, "a b").unwrap();
    let request = source
        .request(&call, Method::GET, &path, &[], HeaderMap::new())
        .unwrap();
    assert_eq!(
        request.url().as_str(),
        "http://10.0.0.7:10000/acme/media/a%20b?sv=2021-08-06&sig=a%2Bb"
    );
    assert!(request.headers().get(header::AUTHORIZATION).is_none());
    assert_eq!(request.headers()["x-ms-version"], API_VERSION);
    assert!(!format!("{source:?}").contains("sig="), "{source:?}");
}

mod live;
mod paging;
