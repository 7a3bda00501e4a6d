//! Where a `cloud_type` and `region` point: the operator's `[[endpoints]]` first, then the
//! public endpoints of each cloud's S3-compatible API.

use oms_core::spec::CloudType;
use serde::Deserialize;

/// The destination cloud type of OMS (Huawei OBS).
pub const DESTINATION_CLOUD: &str = "HEC";

/// An operator's endpoint rule (`[[endpoints]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointRule {
    /// An OMS `cloud_type` (`AWS`, `Aliyun`, ...) or `HEC` for the destination.
    pub cloud_type: String,
    /// The region it serves (`*` for any).
    pub region: String,
    /// Base URL, e.g. `http://127.0.0.1:9000`.
    pub url: String,
    /// Path-style addressing (`url/bucket/key`) instead of virtual-hosted (`bucket.host/key`).
    #[serde(default = "default_path_style")]
    pub path_style: bool,
    /// The IANA time zone of the region (`Asia/Shanghai`), for the destination's rules
    /// (`cloud_type` `HEC`): tasks into the region read their bandwidth windows on its clocks,
    /// as OMS reads them in its region's local time. Unset: `worker.time_zone`.
    #[serde(default)]
    pub time_zone: Option<String>,
}

const fn default_path_style() -> bool {
    true
}

/// Where a `cloud_type` + region points, from an `[[endpoints]]` rule or the public pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL without a trailing `/`; the bucket is not part of it.
    pub url: String,
    /// Path-style addressing.
    pub path_style: bool,
    /// No operator rule matched: the cloud's public endpoint for the region was guessed.
    pub guessed: bool,
}

impl Endpoint {
    /// The endpoint as messages name it: its URL, and whether it was guessed.
    pub fn described(&self) -> String {
        if self.guessed {
            format!(
                "{} (the public endpoint for the region; no [[endpoints]] rule matched)",
                self.url
            )
        } else {
            self.url.clone()
        }
    }
}

/// Whether `cloud` + `region` lead to an endpoint omsd knows: an operator rule, or a region
/// of the cloud's public catalogue ([`crate::catalogue::regions`]).
pub fn is_known(rules: &[EndpointRule], cloud: &str, region: &str) -> bool {
    has_rule(rules, cloud, region) || crate::catalogue::regions::is_known(cloud, region)
}

fn has_rule(rules: &[EndpointRule], cloud: &str, region: &str) -> bool {
    rules.iter().any(|r| {
        r.cloud_type.eq_ignore_ascii_case(cloud) && (r.region == region || r.region == "*")
    })
}

/// The public S3-compatible endpoint of a cloud in a region (virtual-hosted style: Aliyun and
/// others refuse path style).
fn public_endpoint(cloud: &str, region: &str) -> Option<String> {
    let url = match CloudType::parse(cloud) {
        Some(CloudType::Aws) => format!("https://s3.{region}.amazonaws.com"),
        Some(CloudType::Aliyun) => format!("https://oss-{region}.aliyuncs.com"),
        Some(CloudType::Tencent) => format!("https://cos.{region}.myqcloud.com"),
        Some(CloudType::HuaweiCloud) => format!("https://obs.{region}.myhuaweicloud.com"),
        Some(CloudType::Qiniu) => format!("https://s3.{region}.qiniucs.com"),
        Some(CloudType::Baidu) => format!("https://s3.{region}.bcebos.com"),
        Some(CloudType::KingsoftCloud) => format!("https://ks3-{region}.ksyuncs.com"),
        Some(CloudType::UCloud) => format!("https://s3-{region}.ufileos.com"),
        Some(CloudType::QingCloud) => format!("https://s3.{region}.qingstor.com"),
        Some(CloudType::Azure | CloudType::Google | CloudType::UrlSource) => return None,
        None if cloud.eq_ignore_ascii_case(DESTINATION_CLOUD) => {
            format!("https://obs.{region}.myhuaweicloud.com")
        }
        None => return None,
    };
    Some(url)
}

/// The time zone an operator gave the destination region `region` (an exact rule first, then
/// a `*` rule), if any.
pub fn destination_time_zone<'a>(rules: &'a [EndpointRule], region: &str) -> Option<&'a str> {
    let zone_of = |pattern: &str| {
        rules.iter().find_map(|r| {
            (r.cloud_type.eq_ignore_ascii_case(DESTINATION_CLOUD) && r.region == pattern)
                .then_some(r.time_zone.as_deref())
                .flatten()
        })
    };
    zone_of(region).or_else(|| zone_of("*"))
}

/// Resolves `cloud` + `region`: an exact operator rule, then an operator wildcard, then the
/// public endpoint.
pub fn resolve(rules: &[EndpointRule], cloud: &str, region: &str) -> Option<Endpoint> {
    let matches = |r: &&EndpointRule, region_pattern: &str| {
        r.cloud_type.eq_ignore_ascii_case(cloud) && r.region == region_pattern
    };
    rules
        .iter()
        .find(|r| matches(r, region))
        .or_else(|| rules.iter().find(|r| matches(r, "*")))
        .map(|r| Endpoint {
            url: r.url.trim_end_matches('/').to_owned(),
            path_style: r.path_style,
            guessed: false,
        })
        .or_else(|| {
            public_endpoint(cloud, region).map(|url| Endpoint {
                url,
                path_style: false,
                guessed: true,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(cloud: &str, region: &str, url: &str) -> EndpointRule {
        EndpointRule {
            cloud_type: cloud.into(),
            region: region.into(),
            url: url.into(),
            path_style: true,
            time_zone: None,
        }
    }

    #[test]
    fn a_destination_region_takes_the_zone_of_its_own_rule_then_of_a_wildcard() {
        let zoned = |region: &str, zone: &str| EndpointRule {
            time_zone: Some(zone.into()),
            ..rule("HEC", region, "http://127.0.0.1:9001")
        };
        let rules = [
            rule("HEC", "cn-east-3", "http://127.0.0.1:9002"),
            zoned("cn-north-4", "Asia/Shanghai"),
            zoned("*", "Europe/Berlin"),
            EndpointRule {
                time_zone: Some("America/New_York".into()),
                ..rule("AWS", "us-east-1", "http://127.0.0.1:9003")
            },
        ];
        assert_eq!(
            destination_time_zone(&rules, "cn-north-4"),
            Some("Asia/Shanghai")
        );
        // A rule without a zone leaves the region to the wildcard's.
        assert_eq!(
            destination_time_zone(&rules, "cn-east-3"),
            Some("Europe/Berlin")
        );
        assert_eq!(destination_time_zone(&rules[..2], "us-east-1"), None);
    }

    #[test]
    fn operator_rules_win_over_public_endpoints() {
        let rules = [
            rule("AWS", "local-1", "http://127.0.0.1:9000/"),
            rule("HEC", "*", "http://127.0.0.1:9001"),
        ];
        assert_eq!(
            resolve(&rules, "AWS", "local-1").unwrap().url,
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            resolve(&rules, "hec", "cn-north-4").unwrap().url,
            "http://127.0.0.1:9001"
        );
        let public = resolve(&rules, "AWS", "us-east-1").unwrap();
        assert_eq!(public.url, "https://s3.us-east-1.amazonaws.com");
        assert!(!public.path_style);
        assert_eq!(
            resolve(&[], "Aliyun", "cn-hangzhou").unwrap().url,
            "https://oss-cn-hangzhou.aliyuncs.com"
        );
        assert!(resolve(&[], "Google", "us").is_none());
    }
}
