//! What a task's source selection means as a sorted walk over the source: a list of entries
//! (single keys and prefixes to list) that never overlap, in key order, so that one checkpoint
//! key says how far the walk got.

use oms_core::spec::{MigrationSpec, TaskKind};

/// One part of a selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// One object.
    Key(String),
    /// Everything under a prefix (a folder in object mode, a prefix in prefix mode).
    Prefix(String),
}

impl Entry {
    fn start(&self) -> &str {
        match self {
            Self::Key(k) | Self::Prefix(k) => k,
        }
    }
}

/// The entries of an object or prefix task, sorted and without overlaps: a prefix covered by
/// another prefix is dropped, and so is a key under a listed prefix.
pub(crate) fn entries(spec: &MigrationSpec) -> Vec<Entry> {
    let mut all: Vec<Entry> = spec
        .source
        .object_keys
        .iter()
        .map(|k| match spec.kind {
            TaskKind::Prefix => Entry::Prefix(k.clone()),
            // A folder, or `""`: the whole bucket.
            _ if k.is_empty() || k.ends_with('/') => Entry::Prefix(k.clone()),
            _ => Entry::Key(k.clone()),
        })
        .collect();
    all.sort_by(|a, b| {
        a.start()
            .cmp(b.start())
            .then_with(|| matches!(a, Entry::Key(_)).cmp(&matches!(b, Entry::Key(_))))
    });
    all.dedup();
    let mut kept: Vec<Entry> = Vec::with_capacity(all.len());
    for entry in all {
        // Sorted order puts a covering prefix before everything it covers.
        let covered = kept.iter().rev().any(|k| match k {
            Entry::Prefix(p) => entry.start().starts_with(p.as_str()),
            Entry::Key(_) => false,
        });
        if !covered {
            kept.push(entry);
        }
    }
    kept
}

/// Whether `key` is after the checkpoint and inside the task's range (`after` exclusive,
/// `until` inclusive).
pub(crate) fn in_scope(
    key: &str,
    checkpoint: Option<&str>,
    after: Option<&str>,
    until: Option<&str>,
) -> bool {
    checkpoint.is_none_or(|c| key > c)
        && after.is_none_or(|a| key > a)
        && until.is_none_or(|u| key <= u)
}

/// Where a listing of `prefix` starts: after the greatest of the checkpoint and the range start
/// that falls at or beyond the prefix.
pub(crate) fn list_start<'a>(
    prefix: &str,
    checkpoint: Option<&'a str>,
    after: Option<&'a str>,
) -> Option<&'a str> {
    [checkpoint, after]
        .into_iter()
        .flatten()
        .filter(|m| *m >= prefix)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oms_core::spec::*;

    fn spec(kind: TaskKind, keys: &[&str]) -> MigrationSpec {
        MigrationSpec {
            kind,
            source: SourceSpec {
                cloud_type: CloudType::Aws,
                region: "r".into(),
                bucket: "b".into(),
                app_id: String::new(),
                object_keys: keys.iter().map(|k| (*k).to_owned()).collect(),
                list_file: None,
                cdn: None,
            },
            destination: DestinationSpec {
                region: "r".into(),
                bucket: "d".into(),
                save_prefix: String::new(),
                kms: None,
            },
            description: String::new(),
            migrate_since_secs: 0,
            object_overwrite_mode: OverwriteMode::SizeLastModified,
            consistency_check: ConsistencyCheck::SizeLastModified,
            dst_storage_policy: StoragePolicy::Standard,
            enable_metadata_migration: false,
            enable_restore: false,
            enable_failed_object_recording: true,
            enable_requester_pays: false,
            smn: None,
            dry_run: false,
        }
    }

    #[test]
    fn prefixes_covered_by_others_are_dropped() {
        let e = entries(&spec(
            TaskKind::Prefix,
            &["logs/2024/", "logs/", "data/", "logs/"],
        ));
        assert_eq!(
            e,
            vec![Entry::Prefix("data/".into()), Entry::Prefix("logs/".into())]
        );
        assert_eq!(
            entries(&spec(TaskKind::Prefix, &["", "x/"])),
            vec![Entry::Prefix(String::new())]
        );
    }

    #[test]
    fn object_mode_mixes_keys_and_folders_in_order() {
        let e = entries(&spec(
            TaskKind::Object,
            &["z.txt", "photos/", "photos/a.jpg", "a.txt", "photosX"],
        ));
        assert_eq!(
            e,
            vec![
                Entry::Key("a.txt".into()),
                Entry::Prefix("photos/".into()),
                Entry::Key("photosX".into()),
                Entry::Key("z.txt".into())
            ]
        );
    }

    #[test]
    fn an_empty_key_in_object_mode_is_the_whole_bucket() {
        assert_eq!(
            entries(&spec(TaskKind::Object, &["", "a.txt", "photos/"])),
            vec![Entry::Prefix(String::new())]
        );
    }

    #[test]
    fn scope_and_list_start() {
        assert!(in_scope("b", Some("a"), None, None));
        assert!(!in_scope("a", Some("a"), None, None));
        assert!(!in_scope("c", None, None, Some("b")));
        assert!(in_scope("b", None, Some("a"), Some("b")));
        assert_eq!(list_start("p/", Some("p/x"), None), Some("p/x"));
        assert_eq!(list_start("p/", Some("a"), None), None);
        assert_eq!(list_start("p/", Some("p/b"), Some("p/c")), Some("p/c"));
    }
}
