//! CDN URL signing (spec §3.9): the schemes of Aliyun CDN (types A, B, C) and Tencent Cloud CDN
//! (types A, B, C, D), paired with OMS's `authentication_type` values. Every scheme hashes the
//! URL's path (as sent, percent-encoded) with the key and a timestamp; they differ in the order
//! of the parts and in where the signature goes (query or path).

use md5::{Digest as _, Md5};
use oms_core::spec::CdnAuthType;
use reqwest::Url;
use secrecy::{ExposeSecret as _, SecretString};
use time::{OffsetDateTime, UtcOffset, macros::format_description};

/// Signs URLs with one key.
#[derive(Debug, Clone)]
pub struct Signer {
    scheme: CdnAuthType,
    key: SecretString,
}

fn md5_hex(parts: &[&str]) -> String {
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// `YYYYMMDDHHMM` in UTC+8 (the clock both providers' type B uses).
fn beijing_minutes(unix: i64) -> String {
    let offset = UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC);
    OffsetDateTime::from_unix_timestamp(unix)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset)
        .format(format_description!("[year][month][day][hour][minute]"))
        .unwrap_or_default()
}

impl Signer {
    /// A signer for `scheme`, or `None` when the scheme signs nothing (NONE) or is unsupported.
    pub fn new(scheme: CdnAuthType, key: SecretString) -> Option<Self> {
        matches!(
            scheme,
            CdnAuthType::AliyunOssA
                | CdnAuthType::AliyunOssB
                | CdnAuthType::AliyunOssC
                | CdnAuthType::TencentCosA
                | CdnAuthType::TencentCosB
                | CdnAuthType::TencentCosC
                | CdnAuthType::TencentCosD
        )
        .then_some(Self { scheme, key })
    }

    /// The signed form of `url` now.
    pub fn sign(&self, url: &Url) -> Url {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        self.sign_at(url, now, &nonce)
    }

    /// The signed form of `url` at Unix time `now`, with `nonce` as the random part (A types).
    pub fn sign_at(&self, url: &Url, now: i64, nonce: &str) -> Url {
        let key = self.key.expose_secret();
        let path = url.path().to_owned();
        let mut signed = url.clone();
        let ts = now.to_string();
        let hex_ts = format!("{now:x}");
        match self.scheme {
            CdnAuthType::AliyunOssA | CdnAuthType::TencentCosA => {
                let hash = md5_hex(&[&path, "-", &ts, "-", nonce, "-0-", key]);
                let name = if self.scheme == CdnAuthType::AliyunOssA {
                    "auth_key"
                } else {
                    "sign"
                };
                signed
                    .query_pairs_mut()
                    .append_pair(name, &format!("{ts}-{nonce}-0-{hash}"));
            }
            CdnAuthType::AliyunOssB | CdnAuthType::TencentCosB => {
                let minutes = beijing_minutes(now);
                let hash = md5_hex(&[key, &minutes, &path]);
                signed.set_path(&format!("/{minutes}/{hash}{path}"));
            }
            CdnAuthType::AliyunOssC | CdnAuthType::TencentCosC => {
                let hash = md5_hex(&[key, &path, &hex_ts]);
                signed.set_path(&format!("/{hash}/{hex_ts}{path}"));
            }
            CdnAuthType::TencentCosD => {
                let hash = md5_hex(&[key, &path, &ts]);
                signed
                    .query_pairs_mut()
                    .append_pair("sign", &hash)
                    .append_pair("t", &ts);
            }
            _ => {}
        }
        signed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(scheme: CdnAuthType) -> Signer {
        Signer::new(scheme, SecretString::from("aliyuncdnexp1234")).unwrap()
    }

    fn url() -> Url {
        Url::parse("http://cdn.example.com/video/standard/1K.html").unwrap()
    }

    /// Aliyun's documented example of type A: key `aliyuncdnexp1234`, timestamp 1444435200,
    /// rand 0, uid 0 → `auth_key=1444435200-0-0-80cd3862d699b7118eed99103f2a3a4f`.
    #[test]
    fn aliyun_type_a_matches_the_documented_example() {
        let signed = signer(CdnAuthType::AliyunOssA).sign_at(&url(), 1_444_435_200, "0");
        assert_eq!(
            signed.as_str(),
            "http://cdn.example.com/video/standard/1K.html?auth_key=1444435200-0-0-80cd3862d699b7118eed99103f2a3a4f"
        );
    }

    /// Type B: the UTC+8 minute and md5(key + minute + path) in front of the path.
    #[test]
    fn type_b_uses_beijing_minutes() {
        // 2015-08-15 08:00 in UTC+8 is 2015-08-15 00:00 UTC.
        let signed = signer(CdnAuthType::AliyunOssB).sign_at(&url(), 1_439_596_800, "0");
        assert_eq!(
            signed.as_str(),
            "http://cdn.example.com/201508150800/2d304f49174c2efca69c26fcea34d59e/video/standard/1K.html"
        );
        let tencent = signer(CdnAuthType::TencentCosB).sign_at(&url(), 1_439_596_800, "0");
        assert_eq!(tencent, signed);
    }

    /// Type C: md5(key + path + hex time), then the hex time, in front of the path.
    #[test]
    fn type_c_puts_the_hash_and_hex_time_in_front_of_the_path() {
        let signed = signer(CdnAuthType::AliyunOssC).sign_at(&url(), 0x55ce_8100, "0");
        let expected = md5_hex(&["aliyuncdnexp1234", "/video/standard/1K.html", "55ce8100"]);
        assert_eq!(
            signed.path(),
            format!("/{expected}/55ce8100/video/standard/1K.html")
        );
        let tencent = signer(CdnAuthType::TencentCosC).sign_at(&url(), 0x55ce_8100, "0");
        assert_eq!(tencent.path(), signed.path());
    }

    #[test]
    fn tencent_types_a_and_d_sign_in_the_query() {
        let a = signer(CdnAuthType::TencentCosA).sign_at(&url(), 1_444_435_200, "0");
        assert_eq!(
            a.query(),
            Some("sign=1444435200-0-0-80cd3862d699b7118eed99103f2a3a4f")
        );
        let d = signer(CdnAuthType::TencentCosD).sign_at(&url(), 1_444_435_200, "0");
        let expected = md5_hex(&["aliyuncdnexp1234", "/video/standard/1K.html", "1444435200"]);
        assert_eq!(d.query().unwrap(), format!("sign={expected}&t=1444435200"));
    }

    #[test]
    fn encoded_paths_are_signed_as_sent_and_queries_kept() {
        let url = Url::parse("http://cdn.example.com/a%20b/%E4%B8%AD.txt?v=1").unwrap();
        let signed = signer(CdnAuthType::TencentCosD).sign_at(&url, 10, "0");
        let expected = md5_hex(&["aliyuncdnexp1234", "/a%20b/%E4%B8%AD.txt", "10"]);
        assert_eq!(signed.query().unwrap(), format!("v=1&sign={expected}&t=10"));
    }

    #[test]
    fn public_and_unsupported_schemes_sign_nothing() {
        assert!(Signer::new(CdnAuthType::None, SecretString::from("k")).is_none());
        assert!(Signer::new(CdnAuthType::QiniuPrivate, SecretString::from("k")).is_none());
    }
}
