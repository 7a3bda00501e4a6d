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
    /// The CRC-64/XZ the store reports of it (Huawei OBS, Aliyun OSS, Tencent COS), when it
    /// was asked for and reported.
    pub crc64: Option<u64>,
}

/// What to do with an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Copy it: not at the destination, or the overwrite mode says it is out of date.
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
        // Both sides report a CRC64: it decides. Otherwise CRC64 falls back to size and time,
        // as OMS does.
        OverwriteMode::Crc64 if source.crc64.is_some() && dst.crc64.is_some() => {
            if source.crc64 == dst.crc64 && source.size == dst.size {
                Decision::SkipExisting
            } else {
                Decision::Copy
            }
        }
        OverwriteMode::SizeLastModified | OverwriteMode::Crc64 => {
            if dst.size == source.size && not_older(dst.last_modified_ms, source.last_modified_ms) {
                Decision::SkipExisting
            } else {
                Decision::Copy
            }
        }
    }
}

/// Whether the instant `a` is not before `b` (both Unix ms), at the precision both carry:
/// whole seconds when either lacks milliseconds. Stores keep times at different precisions
/// (one lists `12:00:00.789`, another `12:00:00.000` for the same write, and HTTP dates carry
/// seconds only), so a copy made in the same second must count as not older.
pub fn not_older(a_ms: i64, b_ms: i64) -> bool {
    if a_ms.rem_euclid(1000) == 0 || b_ms.rem_euclid(1000) == 0 {
        a_ms.div_euclid(1000) >= b_ms.div_euclid(1000)
    } else {
        a_ms >= b_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_mode_compares_crcs_when_both_sides_report_them_else_size_and_time() {
        let mode = OverwriteMode::Crc64;
        let src = ObjectFacts {
            crc64: Some(7),
            ..SRC
        };
        // Same size, destination newer: size and time would skip; a different CRC copies.
        let newer = ObjectFacts {
            size: 10,
            last_modified_ms: 2_000_000,
            crc64: Some(8),
        };
        assert_eq!(decide(mode, 0, src, Some(newer)), Decision::Copy);
        let same = ObjectFacts {
            crc64: Some(7),
            ..newer
        };
        assert_eq!(decide(mode, 0, src, Some(same)), Decision::SkipExisting);
        // Same CRC, destination older: the bytes are the same, it is skipped.
        let older_same = ObjectFacts {
            last_modified_ms: 1,
            ..same
        };
        assert_eq!(
            decide(mode, 0, src, Some(older_same)),
            Decision::SkipExisting
        );
        // One side without: size and time.
        let unreported = ObjectFacts {
            crc64: None,
            ..newer
        };
        assert_eq!(
            decide(mode, 0, src, Some(unreported)),
            Decision::SkipExisting
        );
    }

    const SRC: ObjectFacts = ObjectFacts {
        size: 10,
        last_modified_ms: 1_000_000,
        crc64: None,
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
            crc64: None,
        };
        let same_older = ObjectFacts {
            size: 10,
            last_modified_ms: 500_000,
            crc64: None,
        };
        let other_size = ObjectFacts {
            size: 11,
            last_modified_ms: 2_000_000,
            crc64: None,
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
    fn times_are_compared_at_the_precision_both_sides_carry() {
        let mode = OverwriteMode::SizeLastModified;
        let listed = ObjectFacts {
            size: 5,
            last_modified_ms: 1_700_000_000_789,
            crc64: None,
        };
        let whole_seconds = ObjectFacts {
            size: 5,
            last_modified_ms: 1_700_000_000_000,
            crc64: None,
        };
        assert_eq!(
            decide(mode, 0, listed, Some(whole_seconds)),
            Decision::SkipExisting,
            "a destination that keeps seconds holds the same write"
        );
        let earlier_ms = ObjectFacts {
            size: 5,
            last_modified_ms: 1_700_000_000_500,
            crc64: None,
        };
        assert_eq!(decide(mode, 0, listed, Some(earlier_ms)), Decision::Copy);
        let second_before = ObjectFacts {
            size: 5,
            last_modified_ms: 1_699_999_999_000,
            crc64: None,
        };
        assert_eq!(decide(mode, 0, listed, Some(second_before)), Decision::Copy);
        assert!(not_older(-1000, -1000) && !not_older(-2000, -1000));
    }

    #[test]
    fn no_overwrite_skips_and_full_overwrite_copies_whatever_is_there() {
        let other = ObjectFacts {
            size: 99,
            last_modified_ms: 1,
            crc64: None,
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
