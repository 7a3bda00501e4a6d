//! Per-object decisions of a migration, free of I/O: skip by `migrate_since`, and what to do
//! with an object that may already be at the destination (`object_overwrite_mode`).

use crate::spec::OverwriteMode;

/// The facts of an object compared by the overwrite rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectFacts {
    /// Size in bytes.
    pub size: u64,
    /// Last modification, Unix ms.
    pub last_modified_ms: i64,
}

/// What to do with an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Copy it.
    Copy,
    /// Leave it: it is older than `migrate_since`.
    SkipOlderThanSince,
    /// Leave it: the destination already has it (by the overwrite mode).
    SkipExisting,
}

/// Whether the overwrite mode needs to know what is at the destination.
pub const fn needs_destination(mode: OverwriteMode) -> bool {
    !matches!(mode, OverwriteMode::FullOverwrite)
}

/// Decides for a source object with `source` facts, given `destination` (`None`: absent, or not
/// looked up because the mode does not need it) and `migrate_since_secs` (0: all objects).
pub fn decide(
    mode: OverwriteMode,
    migrate_since_secs: i64,
    source: ObjectFacts,
    destination: Option<ObjectFacts>,
) -> Decision {
    if migrate_since_secs > 0 && source.last_modified_ms < migrate_since_secs.saturating_mul(1000) {
        return Decision::SkipOlderThanSince;
    }
    let Some(dst) = destination else {
        return Decision::Copy;
    };
    match mode {
        OverwriteMode::FullOverwrite => Decision::Copy,
        OverwriteMode::NoOverwrite => Decision::SkipExisting,
        // CRC64 falls back to size and time where the stores expose no CRC64, as OMS does.
        OverwriteMode::SizeLastModified | OverwriteMode::Crc64 => {
            if dst.size == source.size && dst.last_modified_ms >= source.last_modified_ms {
                Decision::SkipExisting
            } else {
                Decision::Copy
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: ObjectFacts = ObjectFacts {
        size: 10,
        last_modified_ms: 1_000_000,
    };

    #[test]
    fn absent_objects_are_copied_in_every_mode() {
        for mode in OverwriteMode::ALL {
            assert_eq!(decide(*mode, 0, SRC, None), Decision::Copy);
        }
    }

    #[test]
    fn size_and_time_mode_skips_same_size_not_older_copies() {
        let mode = OverwriteMode::SizeLastModified;
        let same_newer = ObjectFacts {
            size: 10,
            last_modified_ms: 2_000_000,
        };
        let same_older = ObjectFacts {
            size: 10,
            last_modified_ms: 500_000,
        };
        let other_size = ObjectFacts {
            size: 11,
            last_modified_ms: 2_000_000,
        };
        assert_eq!(
            decide(mode, 0, SRC, Some(same_newer)),
            Decision::SkipExisting
        );
        assert_eq!(decide(mode, 0, SRC, Some(SRC)), Decision::SkipExisting);
        assert_eq!(decide(mode, 0, SRC, Some(same_older)), Decision::Copy);
        assert_eq!(decide(mode, 0, SRC, Some(other_size)), Decision::Copy);
        assert_eq!(
            decide(OverwriteMode::Crc64, 0, SRC, Some(other_size)),
            Decision::Copy
        );
    }

    #[test]
    fn no_overwrite_skips_and_full_overwrite_copies_whatever_is_there() {
        let other = ObjectFacts {
            size: 99,
            last_modified_ms: 1,
        };
        assert_eq!(
            decide(OverwriteMode::NoOverwrite, 0, SRC, Some(other)),
            Decision::SkipExisting
        );
        assert_eq!(
            decide(OverwriteMode::FullOverwrite, 0, SRC, Some(SRC)),
            Decision::Copy
        );
        assert!(!needs_destination(OverwriteMode::FullOverwrite));
        assert!(needs_destination(OverwriteMode::NoOverwrite));
    }

    #[test]
    fn objects_older_than_migrate_since_are_skipped_first() {
        assert_eq!(
            decide(OverwriteMode::FullOverwrite, 1001, SRC, None),
            Decision::SkipOlderThanSince
        );
        assert_eq!(
            decide(OverwriteMode::FullOverwrite, 1000, SRC, None),
            Decision::Copy
        );
    }
}
