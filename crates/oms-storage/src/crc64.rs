//! The CRC-64 the clouds report of an object: CRC-64/XZ (the ECMA-182 polynomial, reflected,
//! initial value and final XOR all ones), which Huawei OBS answers as `x-obs-hash-crc64ecma`,
//! Aliyun OSS as `x-oss-hash-crc64ecma` and Tencent COS as `x-cos-hash-crc64ecma`, in decimal.
//! The S3 connector reads it from every answer about an object (HEAD, GET, PUT, UploadPart,
//! CompleteMultipartUpload, CopyObject) through an interceptor (`Crc64Seen`).

use std::sync::{Arc, Mutex, PoisonError};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The headers that carry an object's CRC-64/XZ, one per cloud.
pub const CRC64_HEADERS: [&str; 3] = [
    "x-obs-hash-crc64ecma",
    "x-oss-hash-crc64ecma",
    "x-cos-hash-crc64ecma",
];

/// The CRC-64 an answer reports, from a `(name, value)` lookup of its headers: the first of
/// [`CRC64_HEADERS`] present whose value is a decimal `u64` (a malformed value reports none).
pub fn crc64_of<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Option<u64> {
    CRC64_HEADERS
        .iter()
        .find_map(|name| header(name))
        .and_then(|v| v.trim().parse().ok())
}

/// Catches the CRC-64 of one S3 answer (the SDK's outputs do not carry these headers).
#[derive(Debug, Clone, Default)]
pub(crate) struct Crc64Seen(Arc<Mutex<Option<u64>>>);

impl Crc64Seen {
    /// What the answer reported (`None`: nothing, or no answer yet).
    pub(crate) fn get(&self) -> Option<u64> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Intercept for Crc64Seen {
    fn name(&self) -> &'static str {
        "Crc64Seen"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers = context.response().headers();
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = crc64_of(|name| headers.get(name));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_clouds_header_is_read_in_decimal() {
        for name in CRC64_HEADERS {
            let value = "11051210869376104954";
            assert_eq!(
                crc64_of(|n| (n == name).then_some(value)),
                Some(0x995D_C9BB_DF19_39FA)
            );
        }
        assert_eq!(crc64_of(|_| Some("not a number")), None);
        assert_eq!(crc64_of(|_| None), None);
    }

    #[test]
    fn the_restore_header_says_whether_a_restore_is_under_way_or_done() {
        use crate::Restore;
        assert_eq!(
            Restore::from_header(r#"ongoing-request="true""#),
            Some(Restore::InProgress)
        );
        assert_eq!(
            Restore::from_header(
                r#"ongoing-request="false", expiry-date="Fri, 23 Dec 2012 00:00:00 GMT""#
            ),
            Some(Restore::Done)
        );
        assert_eq!(Restore::from_header("garbage"), None);
        for archived in ["GLACIER", "DEEP_ARCHIVE", "Archive", "ColdArchive", "COLD"] {
            assert!(oms_core::spec::is_archive_class(archived), "{archived}");
        }
        for readable in ["STANDARD", "GLACIER_IR", "STANDARD_IA", "IA"] {
            assert!(!oms_core::spec::is_archive_class(readable), "{readable}");
        }
    }
}
