//! Which clouds and regions omsd can reach: the built-in catalogue of public regions
//! ([`crate::catalogue::regions`]) merged with the operator's `[[endpoints]]` rules. What `ShowCloudType`
//! and `ShowRegionInfo` answer.

use oms_core::spec::CloudType;

use crate::catalogue::endpoints::{DESTINATION_CLOUD, EndpointRule};
use crate::catalogue::regions;

/// A region omsd can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachableRegion {
    /// The region code.
    pub value: String,
    /// Its name.
    pub description: String,
}

/// The regions of one cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachableCloud {
    /// The cloud as OMS writes it (`AWS`, ..., `HEC`).
    pub cloud_type: &'static str,
    /// Its regions: the catalogue's, then those only `[[endpoints]]` rules name.
    pub regions: Vec<ReachableRegion>,
}

/// What a region only an operator rule names is called.
const CONFIGURED: &str = "Configured endpoint";

/// The source clouds omsd can migrate from: every OMS source cloud (S3-compatible clouds have
/// public endpoints or rules; Azure, Google and URL lists are reached through their
/// credentials or URLs).
pub fn source_clouds() -> Vec<&'static str> {
    CloudType::ALL.iter().map(|c| c.as_str()).collect()
}

/// The destination clouds: `HEC`.
pub fn destination_clouds() -> Vec<&'static str> {
    vec![DESTINATION_CLOUD]
}

/// Every cloud whose endpoints come from a region, with its regions: the catalogue's in its
/// order, then the regions of `rules` it does not hold (a `*` rule names no region).
pub fn regions(rules: &[EndpointRule]) -> Vec<ReachableCloud> {
    regions::catalogue()
        .map(|(cloud_type, table)| {
            let mut regions: Vec<ReachableRegion> = table
                .iter()
                .map(|r| ReachableRegion {
                    value: r.value.to_owned(),
                    description: r.description.to_owned(),
                })
                .collect();
            for rule in rules
                .iter()
                .filter(|r| r.cloud_type.eq_ignore_ascii_case(cloud_type) && r.region != "*")
            {
                if !regions.iter().any(|r| r.value == rule.region) {
                    regions.push(ReachableRegion {
                        value: rule.region.clone(),
                        description: CONFIGURED.to_owned(),
                    });
                }
            }
            ReachableCloud {
                cloud_type,
                regions,
            }
        })
        .collect()
}

/// The name of `region` of `cloud` for people: the catalogue's, else the region itself.
pub fn region_name(cloud: &str, region: &str) -> String {
    regions::catalogue()
        .filter(|(c, _)| c.eq_ignore_ascii_case(cloud))
        .flat_map(|(_, table)| table.iter())
        .find(|r| r.value == region)
        .map_or_else(|| region.to_owned(), |r| r.description.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_add_their_regions_after_the_catalogue() {
        let rules = [
            EndpointRule {
                cloud_type: "aws".into(),
                region: "local-1".into(),
                url: "http://127.0.0.1:9000".into(),
                path_style: true,
                time_zone: None,
            },
            EndpointRule {
                cloud_type: "AWS".into(),
                region: "us-east-1".into(),
                url: "http://127.0.0.1:9001".into(),
                path_style: true,
                time_zone: None,
            },
            EndpointRule {
                cloud_type: "HEC".into(),
                region: "*".into(),
                url: "http://127.0.0.1:9002".into(),
                path_style: true,
                time_zone: None,
            },
        ];
        let clouds = regions(&rules);
        let aws = clouds.iter().find(|c| c.cloud_type == "AWS").unwrap();
        assert_eq!(aws.regions[0].value, "us-east-1");
        assert_eq!(aws.regions.last().unwrap().value, "local-1");
        assert_eq!(
            aws.regions
                .iter()
                .filter(|r| r.value == "us-east-1")
                .count(),
            1
        );
        let hec = clouds.iter().find(|c| c.cloud_type == "HEC").unwrap();
        assert!(hec.regions.iter().all(|r| r.value != "*"));
        assert_eq!(region_name("AWS", "eu-west-1"), "Europe (Ireland)");
        assert_eq!(region_name("AWS", "local-1"), "local-1");
    }
}
