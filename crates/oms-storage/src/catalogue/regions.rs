//! The regions each public cloud really has, so that a task naming a region the cloud does not
//! have is refused when it is created instead of failing at run time with a DNS error, and so
//! that `ShowRegionInfo` (`GET /v2/{project_id}/objectstorage/data-center`) can list them.
//!
//! The facts are the providers' published region and endpoint lists, as of 2026-11. Each value
//! is the region exactly as it appears in the host [`endpoints`](crate::catalogue::endpoints) builds for
//! that cloud (`oss-{region}.aliyuncs.com`, `ks3-{region}.ksyuncs.com`, ...), so a known region
//! always names a public endpoint. Regions whose S3 endpoint lies under another domain (AWS
//! China, Huawei's European and partner regions) are left out: an operator reaches them, and
//! any region added after the check, with an `[[endpoints]]` rule, which this catalogue does
//! not consult.

use oms_core::spec::CloudType;

use crate::catalogue::endpoints::DESTINATION_CLOUD;

/// A region a cloud serves, as the data-center API lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region {
    /// The region code as the cloud's S3-compatible endpoint host spells it (`eu-west-1`).
    pub value: &'static str,
    /// An English name for people (`Europe (Ireland)`).
    pub description: &'static str,
}

const fn r(value: &'static str, description: &'static str) -> Region {
    Region { value, description }
}

// The tables below were checked against each provider's published list in 2026-11. Closed
// regions are left out; regions being wound down stay in while buckets can still be read
// (migrating out of them is what OMS is for). Operators add anything else with `[[endpoints]]`.

/// Amazon S3, commercial and GovCloud partitions (`s3.{region}.amazonaws.com`). The China
/// partition (`cn-north-1`, `cn-northwest-1`) and the European Sovereign Cloud live under
/// `amazonaws.com.cn` and `amazonaws.eu` and need an operator rule.
const AWS: &[Region] = &[
    r("us-east-1", "US East (N. Virginia)"),
    r("us-east-2", "US East (Ohio)"),
    r("us-west-1", "US West (N. California)"),
    r("us-west-2", "US West (Oregon)"),
    r("af-south-1", "Africa (Cape Town)"),
    r("ap-east-1", "Asia Pacific (Hong Kong)"),
    r("ap-east-2", "Asia Pacific (Taipei)"),
    r("ap-south-1", "Asia Pacific (Mumbai)"),
    r("ap-south-2", "Asia Pacific (Hyderabad)"),
    r("ap-southeast-1", "Asia Pacific (Singapore)"),
    r("ap-southeast-2", "Asia Pacific (Sydney)"),
    r("ap-southeast-3", "Asia Pacific (Jakarta)"),
    r("ap-southeast-4", "Asia Pacific (Melbourne)"),
    r("ap-southeast-5", "Asia Pacific (Malaysia)"),
    r("ap-southeast-6", "Asia Pacific (New Zealand)"),
    r("ap-southeast-7", "Asia Pacific (Thailand)"),
    r("ap-northeast-1", "Asia Pacific (Tokyo)"),
    r("ap-northeast-2", "Asia Pacific (Seoul)"),
    r("ap-northeast-3", "Asia Pacific (Osaka)"),
    r("ca-central-1", "Canada (Central)"),
    r("ca-west-1", "Canada West (Calgary)"),
    r("eu-central-1", "Europe (Frankfurt)"),
    r("eu-central-2", "Europe (Zurich)"),
    r("eu-north-1", "Europe (Stockholm)"),
    r("eu-south-1", "Europe (Milan)"),
    r("eu-south-2", "Europe (Spain)"),
    r("eu-west-1", "Europe (Ireland)"),
    r("eu-west-2", "Europe (London)"),
    r("eu-west-3", "Europe (Paris)"),
    r("il-central-1", "Israel (Tel Aviv)"),
    r("me-central-1", "Middle East (UAE)"),
    r("me-south-1", "Middle East (Bahrain)"),
    r("mx-central-1", "Mexico (Central)"),
    r("sa-east-1", "South America (Sao Paulo)"),
    r("us-gov-east-1", "AWS GovCloud (US-East)"),
    r("us-gov-west-1", "AWS GovCloud (US-West)"),
];

/// Alibaba Cloud OSS (`oss-{region}.aliyuncs.com`).
const ALIYUN: &[Region] = &[
    r("cn-hangzhou", "China (Hangzhou)"),
    r("cn-shanghai", "China (Shanghai)"),
    r("cn-nanjing", "China (Nanjing - Local Region)"),
    r("cn-qingdao", "China (Qingdao)"),
    r("cn-beijing", "China (Beijing)"),
    r("cn-zhangjiakou", "China (Zhangjiakou)"),
    r("cn-huhehaote", "China (Hohhot)"),
    r("cn-wulanchabu", "China (Ulanqab)"),
    r("cn-shenzhen", "China (Shenzhen)"),
    r("cn-heyuan", "China (Heyuan)"),
    r("cn-guangzhou", "China (Guangzhou)"),
    r("cn-chengdu", "China (Chengdu)"),
    r("cn-zhongwei", "China (Zhongwei)"),
    r("cn-hongkong", "China (Hong Kong)"),
    r("ap-northeast-1", "Japan (Tokyo)"),
    r("ap-northeast-2", "South Korea (Seoul)"),
    r("ap-southeast-1", "Singapore"),
    r("ap-southeast-3", "Malaysia (Kuala Lumpur)"),
    r("ap-southeast-5", "Indonesia (Jakarta)"),
    r("ap-southeast-6", "Philippines (Manila)"),
    r("ap-southeast-7", "Thailand (Bangkok)"),
    r("eu-central-1", "Germany (Frankfurt)"),
    r("eu-west-1", "UK (London)"),
    r("us-west-1", "US (Silicon Valley)"),
    r("us-east-1", "US (Virginia)"),
    r("na-south-1", "Mexico"),
    r("me-east-1", "UAE (Dubai)"),
    r("me-central-1", "Saudi Arabia (Riyadh)"),
];

/// Tencent Cloud COS (`cos.{region}.myqcloud.com`), public and financial regions.
const TENCENT: &[Region] = &[
    r("ap-beijing-1", "North China (Beijing Zone 1)"),
    r("ap-beijing", "North China (Beijing)"),
    r("ap-nanjing", "East China (Nanjing)"),
    r("ap-shanghai", "East China (Shanghai)"),
    r("ap-guangzhou", "South China (Guangzhou)"),
    r("ap-chengdu", "Southwest China (Chengdu)"),
    r("ap-chongqing", "Southwest China (Chongqing)"),
    r("ap-shenzhen-fsi", "South China (Shenzhen Finance)"),
    r("ap-shanghai-fsi", "East China (Shanghai Finance)"),
    r("ap-beijing-fsi", "North China (Beijing Finance)"),
    r("ap-hongkong", "Hong Kong, China"),
    r("ap-singapore", "Southeast Asia (Singapore)"),
    r("ap-mumbai", "South Asia (Mumbai)"),
    r("ap-jakarta", "Southeast Asia (Jakarta)"),
    r("ap-seoul", "Northeast Asia (Seoul)"),
    r("ap-bangkok", "Southeast Asia (Bangkok)"),
    r("ap-tokyo", "Northeast Asia (Tokyo)"),
    r("na-siliconvalley", "US West (Silicon Valley)"),
    r("na-ashburn", "US East (Virginia)"),
    r("na-toronto", "North America (Toronto)"),
    r("sa-saopaulo", "South America (Sao Paulo)"),
    r("eu-frankfurt", "Europe (Frankfurt)"),
];

/// Huawei Cloud OBS (`obs.{region}.myhuaweicloud.com`): a source (`HuaweiCloud`) and the
/// destination (`HEC`). `eu-west-101` (`myhuaweicloud.eu`) and the partner regions under other
/// domains need an operator rule.
const HUAWEI: &[Region] = &[
    r("cn-north-1", "CN North-Beijing1"),
    r("cn-north-4", "CN North-Beijing4"),
    r("cn-north-9", "CN North-Ulanqab1"),
    r("cn-east-2", "CN East-Shanghai2"),
    r("cn-east-3", "CN East-Shanghai1"),
    r("cn-south-1", "CN South-Guangzhou"),
    r("cn-south-4", "CN South-Guangzhou-InvitationOnly"),
    r("cn-southwest-2", "CN Southwest-Guiyang1"),
    r("ap-southeast-1", "CN-Hong Kong"),
    r("ap-southeast-2", "AP-Bangkok"),
    r("ap-southeast-3", "AP-Singapore"),
    r("ap-southeast-4", "AP-Jakarta"),
    r("ap-southeast-5", "AP-Manila"),
    r("af-south-1", "AF-Johannesburg"),
    r("af-north-1", "AF-Cairo"),
    r("me-east-1", "ME-Riyadh"),
    r("tr-west-1", "TR-Istanbul"),
    r("na-mexico-1", "LA-Mexico City1"),
    r("la-north-2", "LA-Mexico City2"),
    r("sa-brazil-1", "LA-Sao Paulo1"),
    r("la-south-2", "LA-Santiago"),
];

/// Qiniu Kodo's S3 service (`s3.{region}.qiniucs.com`; its S3 region IDs, not `z0`-style ones).
const QINIU: &[Region] = &[
    r("cn-east-1", "East China (Zhejiang)"),
    r("cn-east-2", "East China (Zhejiang 2)"),
    r("cn-north-1", "North China (Hebei)"),
    r("cn-south-1", "South China (Guangdong)"),
    r("cn-northwest-1", "Northwest China (Shaanxi 1)"),
    r("us-north-1", "North America (Los Angeles)"),
    r("ap-southeast-1", "Asia Pacific (Singapore)"),
    r("ap-southeast-2", "Asia Pacific (Hanoi)"),
    r("ap-southeast-3", "Asia Pacific (Ho Chi Minh City)"),
];

/// Baidu BOS's S3 service (`s3.{region}.bcebos.com`), only where Baidu publishes one.
const BAIDU: &[Region] = &[
    r("bj", "North China (Beijing)"),
    r("gz", "South China (Guangzhou)"),
    r("su", "East China (Suzhou)"),
    r("bd", "North China (Baoding)"),
    r("fwh", "Central China (Wuhan Finance)"),
    r("hkg", "Hong Kong"),
];

/// Kingsoft Cloud KS3 (`ks3-{region}.ksyuncs.com`): the host fragment, not KS3's upper-case
/// region names (`BEIJING`, `JR_SHANGHAI`).
const KINGSOFT: &[Region] = &[
    r("cn-beijing", "China (Beijing)"),
    r("cn-shanghai", "China (Shanghai)"),
    r("cn-guangzhou", "China (Guangzhou)"),
    r("cn-qingyang", "China (Qingyang)"),
    r("cn-hk-1", "China (Hong Kong)"),
    r("jr-beijing", "China (Beijing Finance)"),
    r("jr-shanghai", "China (Shanghai Finance)"),
    r("gov-beijing", "China (Beijing Government)"),
    r("rus", "Russia (Moscow)"),
    r("sgp", "Singapore"),
];

/// UCloud US3's S3 service (`s3-{region}.ufileos.com`).
const UCLOUD: &[Region] = &[
    r("cn-bj", "North China (Beijing 2)"),
    r("cn-wlcb", "North China (Ulanqab)"),
    r("cn-sh2", "East China (Shanghai 2)"),
    r("cn-gd", "South China (Guangzhou)"),
    r("cn-guiyang1", "China (Guiyang)"),
    r("hk", "Hong Kong"),
    r("tw-tp", "Taiwan (Taipei)"),
    r("sg", "Singapore"),
    r("idn-jakarta", "Indonesia (Jakarta)"),
    r("vn-sng", "Vietnam (Ho Chi Minh City)"),
    r("th-bkk", "Thailand (Bangkok)"),
    r("kr-seoul", "South Korea (Seoul)"),
    r("jpn-tky", "Japan (Tokyo)"),
    r("ind-mumbai", "India (Mumbai)"),
    r("pk-khi", "Pakistan (Karachi)"),
    r("kz-ala", "Kazakhstan (Almaty)"),
    r("uae-dubai", "UAE (Dubai)"),
    r("ge-fra", "Germany (Frankfurt)"),
    r("uk-london", "UK (London)"),
    r("rus-mosc", "Russia (Moscow)"),
    r("afr-nigeria", "Nigeria (Lagos)"),
    r("us-ca", "US (Los Angeles)"),
    r("us-ws", "US (Washington)"),
    r("us-den", "US (Denver)"),
    r("bra-saopaulo", "Brazil (Sao Paulo)"),
];

/// QingCloud QingStor's S3 service (`s3.{zone}.qingstor.com`).
const QINGCLOUD: &[Region] = &[
    r("pek3a", "China (Beijing 3 Zone A)"),
    r("pek3b", "China (Beijing 3 Zone B)"),
    r("sh1a", "China (Shanghai 1 Zone A)"),
    r("gd2", "China (Guangdong 2)"),
    r("ap3", "Indonesia (Jakarta)"),
];

/// The regions of a source cloud, in the catalogue's order; empty for clouds whose endpoints
/// are not built from a region (Azure, Google, URL lists).
pub fn regions(cloud: CloudType) -> &'static [Region] {
    match cloud {
        CloudType::Aws => AWS,
        CloudType::Aliyun => ALIYUN,
        CloudType::Tencent => TENCENT,
        CloudType::HuaweiCloud => HUAWEI,
        CloudType::Qiniu => QINIU,
        CloudType::Baidu => BAIDU,
        CloudType::KingsoftCloud => KINGSOFT,
        CloudType::UCloud => UCLOUD,
        CloudType::QingCloud => QINGCLOUD,
        CloudType::Azure | CloudType::Google | CloudType::UrlSource => &[],
    }
}

/// The regions of the destination (`HEC`, Huawei Cloud OBS).
pub fn destination_regions() -> &'static [Region] {
    HUAWEI
}

/// Whether `region` is a region of `cloud` (an OMS `cloud_type`, any ASCII case, or `HEC` for
/// the destination). Regions match exactly: every code is lower-case, and the code also goes
/// into request signatures. Azure, Google and URL sources are always known (their endpoints
/// do not come from a region); an unknown cloud never is. Operator `[[endpoints]]` rules are
/// the caller's to check first: a region with a rule is valid whatever this says.
pub fn is_known(cloud: &str, region: &str) -> bool {
    let table = match CloudType::parse(cloud) {
        Some(source) if !source.is_s3_compatible() => return true,
        Some(source) => regions(source),
        None if cloud.eq_ignore_ascii_case(DESTINATION_CLOUD) => destination_regions(),
        None => return false,
    };
    table.iter().any(|known| known.value == region)
}

/// Every cloud with regions, as `(cloud_type as OMS writes it, regions)`: the source clouds in
/// `CloudType` order, then `HEC`. What `ShowRegionInfo` lists.
pub fn catalogue() -> impl Iterator<Item = (&'static str, &'static [Region])> {
    CloudType::ALL
        .iter()
        .filter(|cloud| cloud.is_s3_compatible())
        .map(|&cloud| (cloud.as_str(), regions(cloud)))
        .chain(std::iter::once((DESTINATION_CLOUD, destination_regions())))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::catalogue::endpoints;

    #[test]
    fn every_region_is_a_dns_label_fragment() {
        for (cloud, table) in catalogue() {
            for region in table {
                let value = region.value;
                assert!(
                    !value.is_empty()
                        && value.len() <= 63
                        && !value.starts_with('-')
                        && !value.ends_with('-')
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                    "{cloud} region '{value}' is not a DNS label fragment"
                );
                assert!(!region.description.is_empty(), "{cloud} {value}");
            }
        }
    }

    #[test]
    fn no_cloud_lists_a_region_twice() {
        for (cloud, table) in catalogue() {
            let mut seen = HashSet::new();
            for region in table {
                assert!(
                    seen.insert(region.value),
                    "{cloud} lists {} twice",
                    region.value
                );
            }
        }
    }

    #[test]
    fn every_s3_compatible_cloud_and_only_those_have_regions() {
        for &cloud in CloudType::ALL {
            assert_eq!(
                !regions(cloud).is_empty(),
                cloud.is_s3_compatible(),
                "{cloud}"
            );
        }
    }

    #[test]
    fn every_known_region_names_its_public_endpoint() {
        for (cloud, table) in catalogue() {
            for region in table {
                let endpoint = endpoints::resolve(&[], cloud, region.value)
                    .unwrap_or_else(|| panic!("{cloud} {} has no endpoint", region.value));
                assert!(
                    endpoint.url.contains(region.value),
                    "{cloud}: {}",
                    endpoint.url
                );
            }
        }
    }

    #[test]
    fn a_sample_region_of_each_cloud_is_known() {
        let samples = [
            ("AWS", "eu-west-1"),
            ("AWS", "us-gov-west-1"),
            ("Aliyun", "cn-hangzhou"),
            ("Tencent", "ap-guangzhou"),
            ("HuaweiCloud", "cn-north-4"),
            ("Qiniu", "cn-east-1"),
            ("Baidu", "bj"),
            ("KingsoftCloud", "cn-beijing"),
            ("UCloud", "cn-bj"),
            ("QingCloud", "pek3b"),
            ("HEC", "cn-north-4"),
        ];
        for (cloud, region) in samples {
            assert!(is_known(cloud, region), "{cloud} {region}");
        }
    }

    #[test]
    fn typos_and_other_clouds_regions_are_unknown() {
        let wrong = [
            ("AWS", "us-eest-1"),
            ("AWS", ""),
            ("AWS", "EU-WEST-1"),
            ("AWS", "cn-north-1"),
            ("Aliyun", "oss-cn-hangzhou"),
            ("Tencent", "guangzhou"),
            ("HuaweiCloud", "cn-north-44"),
            ("Baidu", "cn-north-4"),
            ("KingsoftCloud", "BEIJING"),
            ("UCloud", "s3-cn-bj"),
            ("QingCloud", "pek3"),
            ("HEC", "us-east-1"),
        ];
        for (cloud, region) in wrong {
            assert!(!is_known(cloud, region), "{cloud} {region}");
        }
    }

    #[test]
    fn cloud_names_match_in_any_case_and_unknown_clouds_know_nothing() {
        assert!(is_known("aws", "eu-west-1"));
        assert!(is_known("ALIYUN", "cn-hangzhou"));
        assert!(is_known("kingsoftcloud", "sgp"));
        assert!(is_known("hec", "cn-north-4"));
        assert!(is_known("Hec", "ap-southeast-3"));
        assert!(!is_known("Oracle", "us-ashburn-1"));
        assert!(!is_known("", "eu-west-1"));
    }

    #[test]
    fn azure_google_and_url_sources_are_always_known() {
        for cloud in ["Azure", "GOOGLE", "urlsource", "URLSource"] {
            assert!(is_known(cloud, ""), "{cloud}");
            assert!(is_known(cloud, "anything-at-all"), "{cloud}");
        }
    }

    #[test]
    fn catalogue_lists_each_s3_cloud_once_then_the_destination() {
        let names: Vec<&str> = catalogue().map(|(cloud, _)| cloud).collect();
        assert_eq!(
            names,
            [
                "AWS",
                "Aliyun",
                "Tencent",
                "HuaweiCloud",
                "QingCloud",
                "KingsoftCloud",
                "Baidu",
                "Qiniu",
                "UCloud",
                "HEC"
            ]
        );
        assert_eq!(destination_regions(), regions(CloudType::HuaweiCloud));
    }
}
