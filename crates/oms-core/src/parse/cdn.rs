//! `source_cdn`: the CDN a source is read through, its domain and how its URLs are signed.

use secrecy::SecretString;

use super::{Result, cdn_crypto, required_enum, secret};
use crate::ValidationError;
use crate::spec::{CdnAuthType, CdnProtocol, CdnSpec};
use crate::text::check_len;
use crate::wire::SourceCdnReq;

/// Parses `source_cdn`: a domain the address guard may reach, a protocol, a signing type and,
/// for signed types, its key.
pub(super) fn source_cdn(cdn: SourceCdnReq) -> Result<(CdnSpec, Option<SecretString>)> {
    let domain = cdn.domain.unwrap_or_default();
    check_cdn_domain("source_cdn.domain", &domain)?;
    let protocol = required_enum(
        "source_cdn.protocol",
        cdn.protocol.as_deref(),
        CdnProtocol::parse,
        CdnProtocol::expected,
    )?;
    let authentication_type = required_enum(
        "source_cdn.authentication_type",
        cdn.authentication_type.as_deref(),
        CdnAuthType::parse,
        CdnAuthType::expected,
    )?;
    if !authentication_type.is_supported() {
        return Err(ValidationError::new(
            "source_cdn.authentication_type",
            format!("{authentication_type} is not supported by this installation"),
        ));
    }
    cdn_crypto(
        ["source_cdn.crypto_type", "source_cdn.kms_key_id"],
        cdn.crypto_type.as_deref(),
        cdn.kms_key_id.as_deref(),
    )?;
    let key = secret(
        "source_cdn.authentication_key",
        cdn.authentication_key,
        0,
        255,
    )?;
    if authentication_type.needs_key() && key.is_none() {
        return Err(ValidationError::new(
            "source_cdn.authentication_key",
            format!("is required for authentication_type {authentication_type}"),
        ));
    }
    let key = if authentication_type.needs_key() {
        key
    } else {
        None
    };
    Ok((
        CdnSpec {
            domain,
            protocol,
            authentication_type,
        },
        key,
    ))
}

/// A CDN domain: 3–255 characters of host-name labels, not all-numeric, not a Huawei Cloud
/// service domain. A `:port` may follow (an extension: OMS takes none), for CDNs and origin
/// servers on other ports.
fn check_cdn_domain(field: &str, domain: &str) -> Result<()> {
    check_len(field, domain, 3, 255)?;
    let host = match domain.rsplit_once(':') {
        Some((host, port)) => {
            if port.parse::<u16>().ok().is_none_or(|p| p == 0) {
                return Err(ValidationError::new(
                    field,
                    "must be a host name, optionally with :port (1-65535)",
                ));
            }
            host
        }
        None => domain,
    };
    let lower = host.to_ascii_lowercase();
    let labels_ok = lower.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !labels_ok {
        return Err(ValidationError::new(
            field,
            "must be a host name (letters, digits, '-' and '.')",
        ));
    }
    if lower.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(ValidationError::new(field, "must not be all-numeric"));
    }
    if lower.ends_with(".myhuaweicloud.com") || lower.ends_with(".myhwclouds.com") {
        return Err(ValidationError::new(
            field,
            "must not be a Huawei Cloud service domain",
        ));
    }
    Ok(())
}
