//! Identifiers: task ids, task-group ids and project ids.

use rand::Rng as _;
use serde::{Deserialize, Serialize};

/// A task id: an int64 of at most 15 digits, as OMS issues them.
///
/// New ids are random 15-digit numbers, so ids are neither sequential nor guessable across
/// projects (a collision is retried by the repository).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(i64);

impl TaskId {
    /// The largest id OMS allows (15 digits).
    pub const MAX: i64 = 999_999_999_999_999;
    const MIN_GENERATED: i64 = 100_000_000_000_000;

    /// A fresh random id of exactly 15 digits.
    pub fn random() -> Self {
        Self(rand::rng().random_range(Self::MIN_GENERATED..=Self::MAX))
    }

    /// Wraps an id read from storage or a request, if it is in range.
    pub fn new(value: i64) -> Option<Self> {
        (0..=Self::MAX).contains(&value).then_some(Self(value))
    }

    /// Parses a path segment; `None` for anything but a decimal number in range.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.is_empty() || raw.len() > 15 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        raw.parse().ok().and_then(Self::new)
    }

    /// The numeric value.
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Declares an id that is a UUID, written in its hyphenated lower-case form.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A fresh random (v4) id.
            pub fn random() -> Self {
                Self(uuid::Uuid::new_v4())
            }

            /// Parses the hyphenated UUID form; `None` for anything else.
            pub fn parse(raw: &str) -> Option<Self> {
                if raw.len() != 36 {
                    return None;
                }
                uuid::Uuid::try_parse(raw).ok().map(Self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id! {
    /// A task-group id: a UUID, written in its hyphenated lower-case form.
    GroupId
}

uuid_id! {
    /// A sync-task id: a UUID, written in its hyphenated lower-case form.
    SyncTaskId
}

/// A project id: the tenant every task and group belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProjectId(String);

impl ProjectId {
    /// The longest project id the API accepts.
    pub const MAX_LEN: usize = 64;

    /// Parses a project id: 1–64 characters of `A-Z a-z 0-9 - _`.
    pub fn parse(raw: &str) -> Option<Self> {
        let valid = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then(|| Self(raw.to_owned()))
    }

    /// A fresh random project id: 32 lower-case hex digits, like Huawei Cloud's.
    pub fn random() -> Self {
        let bytes: [u8; 16] = rand::rng().random();
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProjectId {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or_else(|| {
            format!(
                "project id must be 1-{} characters of A-Z a-z 0-9 - _",
                Self::MAX_LEN
            )
        })
    }
}

impl From<ProjectId> for String {
    fn from(value: ProjectId) -> Self {
        value.0
    }
}

impl std::fmt::Display for ProjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_task_ids_have_fifteen_digits() {
        for _ in 0..1000 {
            assert_eq!(TaskId::random().to_string().len(), 15);
        }
    }

    #[test]
    fn task_id_parse_rejects_non_numbers_and_out_of_range() {
        assert_eq!(
            TaskId::parse("191297407830872").map(TaskId::get),
            Some(191_297_407_830_872)
        );
        for bad in ["", "-1", "12a", "1000000000000000", " 1", "1.0", "+5"] {
            assert_eq!(TaskId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn group_id_parse_accepts_only_hyphenated_uuids() {
        let id = "157ece42-3270-4824-a3d2-f0187a03ca01";
        assert_eq!(
            GroupId::parse(id).map(|g| g.to_string()).as_deref(),
            Some(id)
        );
        assert!(GroupId::parse("157ece4232704824a3d2f0187a03ca01").is_none());
        assert!(GroupId::parse("not-a-uuid").is_none());
    }

    #[test]
    fn project_id_rules() {
        assert!(ProjectId::parse("0123456789abcdef").is_some());
        assert!(ProjectId::parse("").is_none());
        assert!(ProjectId::parse("a/b").is_none());
        assert_eq!(ProjectId::random().as_str().len(), 32);
    }
}
