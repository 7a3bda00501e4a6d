//! The checks of every connector: what a source is asked by a migration.

use bytes::Bytes;

use super::{DotSegments, Subject, assert_kind, bytes_for, read, user_metadata, version_of};
use crate::{ErrorKind, ObjectHeaders, ObjectInfo, ReadStore};

/// Names that URL encoders, signers and path normalisers get wrong: reserved and unreserved
/// punctuation, a literal `%41` that must not become `A`, a lone `%`, an empty path segment,
/// the same word in NFC and NFD (two objects), a folder marker beside what is inside it,
/// characters outside the BMP.
pub const ODD_NAMES: &[&str] = &[
    "odd/plus+sign.txt",
    "odd/space in name.txt",
    "odd/percent%41literal.txt",
    "odd/lone%percent.txt",
    "odd/double//slash.txt",
    "odd/caf\u{e9}.txt",
    "odd/cafe\u{301}.txt",
    "odd/dir/",
    "odd/dir/inside.txt",
    "odd/\u{65e5}\u{672c}\u{8a9e}/\u{30d5}\u{30a1}\u{30a4}\u{30eb}.txt",
    "odd/question?mark.txt",
    "odd/hash#mark.txt",
    "odd/amp&eq=.txt",
    "odd/semi;colon,comma.txt",
    "odd/tilde~star*quote'.txt",
    "odd/paren(1)[2]{3}.txt",
    "odd/at@dollar$excl!.txt",
    "odd/emoji-\u{1f600}.txt",
];

/// Keys with dot segments, and the names they would resolve to.
const DOTTED: &[(&str, &str)] = &[
    ("dots/a/./b.txt", "dots/a/b.txt"),
    ("dots/a/../b.txt", "dots/b.txt"),
    ("dots/./b.txt", "dots/b.txt"),
    ("dots/a/..", "dots"),
];

fn body_of(name: &str) -> Bytes {
    if name.ends_with('/') {
        Bytes::new()
    } else {
        bytes_for(name, 1, 100 + name.len())
    }
}

/// Every page of a listing of `prefix` read `limit` keys at a time, each page from the last key
/// of the one before; checks that pages are in order, within `limit`, and progress.
pub async fn list_all(subject: &Subject, prefix: &str, limit: i32) -> Vec<ObjectInfo> {
    let store = subject.store();
    let name = &subject.name;
    let mut all: Vec<ObjectInfo> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10_000 {
        let page = store
            .list(&subject.bucket, prefix, after.as_deref(), limit)
            .await
            .unwrap_or_else(|e| panic!("{name}: listing {prefix:?}: {e}"));
        assert!(
            page.objects.len() <= usize::try_from(limit).unwrap_or(usize::MAX),
            "{name}: a page of {} objects for a limit of {limit}",
            page.objects.len()
        );
        for object in &page.objects {
            assert!(
                object.key.starts_with(prefix),
                "{name}: {:?} listed under {prefix:?}",
                object.key
            );
            if let Some(last) = all.last().map(|o| o.key.as_str()).or(after.as_deref()) {
                assert!(
                    object.key.as_str() > last,
                    "{name}: {:?} listed after {last:?} (out of order or repeated)",
                    object.key
                );
            }
            all.push(object.clone());
        }
        if !page.is_truncated {
            return all;
        }
        assert!(
            !page.objects.is_empty(),
            "{name}: an empty page that says more follow"
        );
        after = all.last().map(|o| o.key.clone());
    }
    panic!("{name}: the listing of {prefix:?} never ends");
}

/// Odd names are stored, listed, headed and read under exactly their names, each with its own
/// bytes; keys with dot segments are kept or refused as the store does, never read as another
/// object.
pub async fn odd_keys(subject: &Subject) {
    let name = &subject.name;
    let store = subject.store();
    let names: Vec<&str> = ODD_NAMES
        .iter()
        .copied()
        .filter(|n| !subject.abilities.skipped_names.contains(n))
        .collect();
    for &object in &names {
        subject.put(object, body_of(object)).await;
    }
    if subject.abilities.lists {
        let listed: Vec<String> = list_all(subject, "odd/", 4)
            .await
            .into_iter()
            .map(|o| o.key)
            .collect();
        let mut expected: Vec<String> = names.iter().map(|&n| n.to_owned()).collect();
        expected.sort();
        assert_eq!(
            listed, expected,
            "{name}: the odd names, listed in byte order"
        );
    }
    for &object in &names {
        let key = (subject.key_of)(object);
        let expected = body_of(object);
        let meta = store
            .head(&subject.bucket, &key)
            .await
            .unwrap_or_else(|e| panic!("{name}: HEAD {object:?}: {e}"))
            .unwrap_or_else(|| panic!("{name}: HEAD {object:?} finds nothing"));
        assert_eq!(
            meta.info.size,
            expected.len() as u64,
            "{name}: size of {object:?}"
        );
        let bytes = read(
            store.as_ref(),
            &subject.bucket,
            &key,
            None,
            Some(&version_of(&meta)),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: GET {object:?}: {e}"));
        assert!(bytes == expected, "{name}: the bytes of {object:?}");
    }
    dot_segments(subject, store.as_ref()).await;
}

async fn dot_segments(subject: &Subject, store: &dyn ReadStore) {
    let name = &subject.name;
    match subject.abilities.dot_segments {
        DotSegments::NotApplicable => {}
        DotSegments::Kept => {
            for &(dotted, resolved) in DOTTED {
                subject.put(dotted, bytes_for(dotted, 2, 64)).await;
                subject.put(resolved, bytes_for(resolved, 3, 64)).await;
            }
            for &(dotted, _) in DOTTED {
                let bytes = read(store, &subject.bucket, dotted, None, None)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: GET {dotted:?}: {e}"));
                assert!(
                    bytes == bytes_for(dotted, 2, 64),
                    "{name}: {dotted:?} read as another object"
                );
            }
        }
        DotSegments::Refused => {
            for &(_, resolved) in DOTTED {
                subject.put(resolved, bytes_for(resolved, 3, 64)).await;
            }
            for &(dotted, _) in DOTTED {
                let key = (subject.key_of)(dotted);
                assert_kind(
                    name,
                    &format!("HEAD {dotted:?}"),
                    store.head(&subject.bucket, &key).await,
                    ErrorKind::Permanent,
                );
                assert_kind(
                    name,
                    &format!("GET {dotted:?}"),
                    read(store, &subject.bucket, &key, None, None).await,
                    ErrorKind::Permanent,
                );
            }
        }
    }
}

/// An empty object is listed with size 0, headed, and read (whole, pinned or not) as no bytes.
pub async fn empty_objects(subject: &Subject) {
    let name = &subject.name;
    let store = subject.store();
    subject.put("empty/zero.bin", Bytes::new()).await;
    let key = (subject.key_of)("empty/zero.bin");
    if subject.abilities.lists {
        let listed = list_all(subject, "empty/", 10).await;
        assert_eq!(listed.len(), 1, "{name}: one empty object listed");
        assert_eq!(listed[0].size, 0, "{name}: the empty object's listed size");
    }
    let meta = store
        .head(&subject.bucket, &key)
        .await
        .unwrap_or_else(|e| panic!("{name}: HEAD of an empty object: {e}"))
        .unwrap_or_else(|| panic!("{name}: HEAD of an empty object finds nothing"));
    assert_eq!(meta.info.size, 0, "{name}: the empty object's size");
    for pinned in [None, Some(version_of(&meta))] {
        let bytes = read(store.as_ref(), &subject.bucket, &key, None, pinned.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{name}: GET of an empty object: {e}"));
        assert!(bytes.is_empty(), "{name}: an empty object read as bytes");
    }
}

/// A listing comes in byte order, page after page from the last key, keeps to its prefix,
/// starts after the key asked for, and tells sizes and entity tags.
pub async fn listing(subject: &Subject) {
    let name = &subject.name;
    // In byte order: '-' < '.' < '/' < '0' < 'A' < '_' < 'a' < '~' < 'é' (and no name is both
    // an object and a folder of others, which a file-system store cannot hold).
    let names = [
        "list/a-b",
        "list/a.b",
        "list/a/b",
        "list/a0",
        "list/aa",
        "list/A",
        "list/_",
        "list/b",
        "list/z",
        "list/~",
        "list/\u{e9}",
        "lists/outside",
        "lisu/outside",
    ];
    for (i, &object) in names.iter().enumerate() {
        subject.put(object, bytes_for(object, 4, i * 7)).await;
    }
    let mut expected: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| n.starts_with("list/"))
        .collect();
    expected.sort_unstable();
    for limit in [1, 3, 1000] {
        let listed = list_all(subject, "list/", limit).await;
        let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, expected, "{name}: listing by {limit}");
        for object in &listed {
            let index = names.iter().position(|&n| n == object.key).unwrap_or(0);
            assert_eq!(
                object.size,
                (index * 7) as u64,
                "{name}: the listed size of {:?}",
                object.key
            );
            assert!(
                object
                    .etag
                    .as_deref()
                    .map_or(!subject.abilities.listed_etags, |e| {
                        !e.is_empty() && !e.contains('"')
                    }),
                "{name}: the listed entity tag of {:?}: {:?}",
                object.key,
                object.etag
            );
            assert!(object.last_modified_ms > 0, "{name}: a listed time");
        }
    }
    let store = subject.store();
    let after = store
        .list(&subject.bucket, "list/", Some("list/a/b"), 1000)
        .await
        .unwrap_or_else(|e| panic!("{name}: listing after a key: {e}"));
    let keys: Vec<&str> = after.objects.iter().map(|o| o.key.as_str()).collect();
    let later: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|&k| k > "list/a/b")
        .collect();
    assert_eq!(keys, later, "{name}: listing after \"list/a/b\"");
    assert!(
        !after.is_truncated,
        "{name}: the last page says more follow"
    );
    let between = store
        .list(&subject.bucket, "list/", Some("list/a/a-not-a-key"), 2)
        .await
        .unwrap_or_else(|e| panic!("{name}: listing after a key that is not one: {e}"));
    let keys: Vec<&str> = between.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        ["list/a/b", "list/a0"],
        "{name}: listing after a missing key"
    );
    let nothing = store
        .list(&subject.bucket, "list/none-", None, 1000)
        .await
        .unwrap_or_else(|e| panic!("{name}: listing an empty prefix: {e}"));
    assert!(
        nothing.objects.is_empty() && !nothing.is_truncated,
        "{name}: a prefix with no keys lists nothing"
    );
    let everything = list_all(subject, "", 1000).await;
    for object in names {
        assert!(
            everything.iter().any(|o| o.key == object),
            "{name}: the empty prefix lists {object:?}"
        );
    }
}

/// Reads pinned to a version return that version's bytes (ranges exactly), and once the
/// object is replaced — even by one of the same size — fail as changed rather than mix
/// versions.
pub async fn pinned_reads(subject: &Subject) {
    let name = &subject.name;
    let store = subject.store();
    let object = "pinned/object.bin";
    let key = (subject.key_of)(object);
    let first = bytes_for(object, 5, 64 * 1024);
    subject.put(object, first.clone()).await;
    let meta = store
        .head(&subject.bucket, &key)
        .await
        .unwrap_or_else(|e| panic!("{name}: HEAD: {e}"))
        .unwrap_or_else(|| panic!("{name}: HEAD finds nothing"));
    let version = version_of(&meta);
    assert_eq!(version.size, first.len() as u64, "{name}: HEAD size");
    assert!(version.etag.is_some(), "{name}: HEAD tells an entity tag");
    let download = store
        .get(&subject.bucket, &key, Some(1000..5000), Some(&version))
        .await
        .unwrap_or_else(|e| panic!("{name}: a pinned ranged GET: {e}"));
    assert_eq!(download.content_length, 4000, "{name}: a range's length");
    assert_eq!(
        download.total_size,
        Some(first.len() as u64),
        "{name}: a range tells the object's size"
    );
    drop(download);
    let range = read(
        store.as_ref(),
        &subject.bucket,
        &key,
        Some(1000..5000),
        Some(&version),
    )
    .await
    .unwrap_or_else(|e| panic!("{name}: a pinned ranged GET: {e}"));
    assert!(
        range == first.slice(1000..5000),
        "{name}: the bytes of a range"
    );
    let last = read(
        store.as_ref(),
        &subject.bucket,
        &key,
        Some(60_000..65_536),
        Some(&version),
    )
    .await
    .unwrap_or_else(|e| panic!("{name}: the last range: {e}"));
    assert!(
        last == first.slice(60_000..),
        "{name}: the bytes of the last range"
    );
    let whole = read(store.as_ref(), &subject.bucket, &key, None, Some(&version))
        .await
        .unwrap_or_else(|e| panic!("{name}: a pinned GET: {e}"));
    assert!(whole == first, "{name}: the bytes of a pinned GET");

    // Replaced by other bytes of the same size: only the entity tag tells.
    let second = bytes_for(object, 6, first.len());
    subject.put(object, second.clone()).await;
    assert_kind(
        name,
        "a ranged GET pinned to a replaced version",
        read(
            store.as_ref(),
            &subject.bucket,
            &key,
            Some(1000..5000),
            Some(&version),
        )
        .await,
        ErrorKind::Changed,
    );
    assert_kind(
        name,
        "a GET pinned to a replaced version",
        read(store.as_ref(), &subject.bucket, &key, None, Some(&version)).await,
        ErrorKind::Changed,
    );
    let fresh = store
        .head(&subject.bucket, &key)
        .await
        .unwrap_or_else(|e| panic!("{name}: HEAD: {e}"))
        .unwrap_or_else(|| panic!("{name}: HEAD finds nothing"));
    assert_ne!(fresh.info.etag, version.etag, "{name}: a new entity tag");
    let now = read(
        store.as_ref(),
        &subject.bucket,
        &key,
        Some(0..10),
        Some(&version_of(&fresh)),
    )
    .await
    .unwrap_or_else(|e| panic!("{name}: a GET pinned to the new version: {e}"));
    assert!(
        now == second.slice(0..10),
        "{name}: the new version's bytes"
    );
}

/// Headers and user metadata set on an object are what HEAD and GET tell.
pub async fn headers(subject: &Subject) {
    let name = &subject.name;
    let abilities = subject.abilities;
    if !abilities.headers && !abilities.user_metadata {
        return;
    }
    let set = ObjectHeaders {
        content_type: Some("text/plain; charset=utf-8".to_owned()),
        cache_control: Some("max-age=60".to_owned()),
        content_disposition: Some("attachment; filename=\"report.txt\"".to_owned()),
        content_language: Some("de-CH".to_owned()),
        user_metadata: user_metadata(),
        ..ObjectHeaders::default()
    };
    let object = "meta/report.txt";
    subject
        .seed
        .put(object, Bytes::from_static(b"quarterly numbers\n"), &set)
        .await;
    let store = subject.store();
    let key = (subject.key_of)(object);
    let meta = store
        .head(&subject.bucket, &key)
        .await
        .unwrap_or_else(|e| panic!("{name}: HEAD: {e}"))
        .unwrap_or_else(|| panic!("{name}: HEAD finds nothing"));
    let download = store
        .get(&subject.bucket, &key, None, None)
        .await
        .unwrap_or_else(|e| panic!("{name}: GET: {e}"));
    for (how, got) in [("HEAD", &meta.headers), ("GET", &download.headers)] {
        if abilities.headers {
            let standard = |h: &ObjectHeaders| {
                (
                    h.content_type.clone(),
                    h.cache_control.clone(),
                    h.content_disposition.clone(),
                    h.content_language.clone(),
                )
            };
            assert_eq!(
                standard(got),
                standard(&set),
                "{name}: the headers {how} tells"
            );
        }
        if abilities.user_metadata {
            assert_eq!(
                got.user_metadata, set.user_metadata,
                "{name}: the user metadata {how} tells"
            );
        }
    }
}

/// A missing object is `None` to HEAD and [`ErrorKind::NotFound`] to GET; a missing bucket is
/// [`ErrorKind::NoSuchBucket`]; wrong keys are [`ErrorKind::BadCredentials`] (or what the
/// server's answer means) — the same kinds from every connector, which is all the engine
/// decides by.
pub async fn errors(subject: &Subject) {
    let name = &subject.name;
    let store = subject.store();
    let missing = (subject.key_of)("errors/missing.bin");
    let head = store
        .head(&subject.bucket, &missing)
        .await
        .unwrap_or_else(|e| panic!("{name}: HEAD of a missing object: {e}"));
    assert!(
        head.is_none(),
        "{name}: HEAD of a missing object finds {head:?}"
    );
    assert_kind(
        name,
        "GET of a missing object",
        read(store.as_ref(), &subject.bucket, &missing, None, None).await,
        ErrorKind::NotFound,
    );
    store
        .check_bucket(&subject.bucket)
        .await
        .unwrap_or_else(|e| panic!("{name}: checking the bucket: {e}"));
    if subject.abilities.buckets {
        let absent = format!("{}-absent", subject.bucket);
        let other = (subject.connect)(&absent, true);
        assert_kind(
            name,
            "checking a missing bucket",
            other.check_bucket(&absent).await,
            ErrorKind::NoSuchBucket,
        );
        if subject.abilities.lists {
            assert_kind(
                name,
                "listing a missing bucket",
                other.list(&absent, "", None, 10).await,
                ErrorKind::NoSuchBucket,
            );
        }
    }
    if let Some(refused) = subject.abilities.wrong_keys {
        subject
            .put("errors/present.bin", bytes_for("present", 7, 10))
            .await;
        let wrong = (subject.connect)(&subject.bucket, false);
        assert_kind(
            name,
            "checking the bucket with wrong keys",
            wrong.check_bucket(&subject.bucket).await,
            refused,
        );
        let present = (subject.key_of)("errors/present.bin");
        assert_kind(
            name,
            "GET with wrong keys",
            read(wrong.as_ref(), &subject.bucket, &present, None, None).await,
            refused,
        );
    }
}
