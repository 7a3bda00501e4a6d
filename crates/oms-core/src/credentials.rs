//! Credentials supplied with create, start and retry requests.
//!
//! They are held as [`SecretString`]s (whose `Debug` prints `[REDACTED]`) and leave memory only
//! sealed by the repository. [`CredentialSet::to_plain_json`] is the one way to turn them into
//! bytes, and its buffer zeroes itself when dropped.

use std::borrow::Cow;

use secrecy::{ExposeSecret as _, SecretString, zeroize::Zeroizing};
use serde::{Deserialize, Serialize};

/// Keys for the source: which ones are needed depends on its cloud type (none for URL lists).
#[derive(Debug, Clone, Default)]
pub struct SourceCredentials {
    /// Access key (S3-compatible clouds).
    pub ak: Option<SecretString>,
    /// Secret key (S3-compatible clouds).
    pub sk: Option<SecretString>,
    /// Temporary STS token that goes with `ak` and `sk`.
    pub security_token: Option<SecretString>,
    /// Azure connection string.
    pub connection_string: Option<SecretString>,
    /// Google service-account JSON.
    pub json_auth_file: Option<SecretString>,
}

/// Keys for the destination.
#[derive(Debug, Clone)]
pub struct DestinationCredentials {
    /// Access key of the destination store.
    pub ak: SecretString,
    /// Secret key of the destination store.
    pub sk: SecretString,
    /// Temporary STS token that goes with `ak` and `sk`.
    pub security_token: Option<SecretString>,
}

/// Everything a worker needs to reach both sides of a migration.
#[derive(Debug, Clone)]
pub struct CredentialSet {
    /// Keys for the source (none for a URL list).
    pub source: SourceCredentials,
    /// Keys for the destination store.
    pub destination: DestinationCredentials,
    /// The CDN signing key, when the source is read through a signed CDN.
    pub cdn_key: Option<SecretString>,
}

/// The plain serialized form; only ever lives inside a zeroizing buffer.
#[derive(Serialize, Deserialize)]
struct Plain<'a> {
    #[serde(borrow)]
    src_ak: Option<Cow<'a, str>>,
    #[serde(borrow)]
    src_sk: Option<Cow<'a, str>>,
    #[serde(borrow)]
    src_security_token: Option<Cow<'a, str>>,
    #[serde(borrow)]
    connection_string: Option<Cow<'a, str>>,
    #[serde(borrow)]
    json_auth_file: Option<Cow<'a, str>>,
    #[serde(borrow)]
    dst_ak: Cow<'a, str>,
    #[serde(borrow)]
    dst_sk: Cow<'a, str>,
    #[serde(borrow)]
    dst_security_token: Option<Cow<'a, str>>,
    #[serde(borrow)]
    cdn_key: Option<Cow<'a, str>>,
}

/// The serialized credentials could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("stored credentials are not readable: {0}")]
pub struct CredentialDecodeError(String);

fn expose(secret: Option<&SecretString>) -> Option<Cow<'_, str>> {
    secret.map(|s| Cow::Borrowed(s.expose_secret()))
}

fn wrap(value: Option<Cow<'_, str>>) -> Option<SecretString> {
    value.map(|v| SecretString::from(v.into_owned()))
}

impl CredentialSet {
    /// Serializes to JSON bytes for sealing; the buffer is zeroed when dropped.
    pub fn to_plain_json(&self) -> Zeroizing<Vec<u8>> {
        let plain = Plain {
            src_ak: expose(self.source.ak.as_ref()),
            src_sk: expose(self.source.sk.as_ref()),
            src_security_token: expose(self.source.security_token.as_ref()),
            connection_string: expose(self.source.connection_string.as_ref()),
            json_auth_file: expose(self.source.json_auth_file.as_ref()),
            dst_ak: Cow::Borrowed(self.destination.ak.expose_secret()),
            dst_sk: Cow::Borrowed(self.destination.sk.expose_secret()),
            dst_security_token: expose(self.destination.security_token.as_ref()),
            cdn_key: expose(self.cdn_key.as_ref()),
        };
        // Serializing a struct of strings into a Vec cannot fail.
        Zeroizing::new(serde_json::to_vec(&plain).unwrap_or_default())
    }

    /// Reads back what [`Self::to_plain_json`] wrote.
    pub fn from_plain_json(bytes: &[u8]) -> Result<Self, CredentialDecodeError> {
        let plain: Plain<'_> =
            serde_json::from_slice(bytes).map_err(|e| CredentialDecodeError(e.to_string()))?;
        Ok(Self {
            source: SourceCredentials {
                ak: wrap(plain.src_ak),
                sk: wrap(plain.src_sk),
                security_token: wrap(plain.src_security_token),
                connection_string: wrap(plain.connection_string),
                json_auth_file: wrap(plain.json_auth_file),
            },
            destination: DestinationCredentials {
                ak: SecretString::from(plain.dst_ak.into_owned()),
                sk: SecretString::from(plain.dst_sk.into_owned()),
                security_token: wrap(plain.dst_security_token),
            },
            cdn_key: wrap(plain.cdn_key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CredentialSet {
        CredentialSet {
            source: SourceCredentials {
                ak: Some("SRC-AK".to_owned().into()),
                sk: Some("SRC-SECRET-\"quoted\"".to_owned().into()),
                ..SourceCredentials::default()
            },
            destination: DestinationCredentials {
                ak: "DST-AK".to_owned().into(),
                sk: "DST-SECRET".to_owned().into(),
                security_token: None,
            },
            cdn_key: Some("CDN-KEY".to_owned().into()),
        }
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let shown = format!("{:?}", sample());
        assert!(
            !shown.contains("SRC-SECRET")
                && !shown.contains("DST-SECRET")
                && !shown.contains("CDN-KEY")
        );
    }

    #[test]
    fn plain_json_round_trips() {
        let bytes = sample().to_plain_json();
        let back = CredentialSet::from_plain_json(&bytes).unwrap();
        assert_eq!(
            back.source.sk.unwrap().expose_secret(),
            "SRC-SECRET-\"quoted\""
        );
        assert_eq!(back.destination.sk.expose_secret(), "DST-SECRET");
        assert_eq!(back.cdn_key.unwrap().expose_secret(), "CDN-KEY");
        assert!(back.source.json_auth_file.is_none());
    }
}
