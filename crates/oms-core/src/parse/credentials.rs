//! The credential fields of a source or destination, as a create or a start body gives them:
//! which a cloud needs, and the checks of an Azure connection string and a Google key file.

use secrecy::{ExposeSecret as _, SecretString};

use super::Result;
use crate::ValidationError;
use crate::credentials::SourceCredentials;
use crate::spec::CloudType;

/// Names of the source credential fields in a create body and in a start body.
#[derive(Clone, Copy)]
pub(super) struct SourceFields {
    pub(super) ak: &'static str,
    pub(super) sk: &'static str,
    pub(super) connection_string: &'static str,
    pub(super) json_auth_file: &'static str,
}

impl SourceFields {
    pub(super) const NODE: Self = Self {
        ak: "src_node.ak",
        sk: "src_node.sk",
        connection_string: "src_node.connection_string",
        json_auth_file: "src_node.json_auth_file",
    };
    pub(super) const START: Self = Self {
        ak: "src_ak",
        sk: "src_sk",
        connection_string: "connection_string",
        json_auth_file: "json_auth_file",
    };
}

/// The credentials each kind of source needs.
pub(super) fn check_source_credentials(
    cloud: CloudType,
    creds: &SourceCredentials,
    names: SourceFields,
) -> Result<()> {
    match cloud {
        CloudType::UrlSource => {
            if creds.ak.is_some() || creds.sk.is_some() {
                return Err(ValidationError::new(
                    names.ak,
                    "URLSource migrations take no source keys",
                ));
            }
        }
        CloudType::Google => {
            let file = creds.json_auth_file.as_ref().ok_or_else(|| {
                ValidationError::new(names.json_auth_file, "is required for Google sources")
            })?;
            check_service_account_json(names.json_auth_file, file)?;
        }
        CloudType::Azure => {
            let conn = creds.connection_string.as_ref().ok_or_else(|| {
                ValidationError::new(names.connection_string, "is required for Azure sources")
            })?;
            check_connection_string(names.connection_string, conn)?;
        }
        _ => {
            if creds.ak.is_none() {
                return Err(ValidationError::new(
                    names.ak,
                    format!("is required for {cloud} sources"),
                ));
            }
            if creds.sk.is_none() {
                return Err(ValidationError::new(
                    names.sk,
                    format!("is required for {cloud} sources"),
                ));
            }
        }
    }
    Ok(())
}

/// A Google service-account JSON: an object with at least `client_email`, and a `private_key`
/// unless it disables OAuth (emulators).
fn check_service_account_json(field: &str, file: &SecretString) -> Result<()> {
    let value: serde_json::Value = serde_json::from_str(file.expose_secret()).map_err(|_| {
        ValidationError::new(
            field,
            "is not valid JSON (expected a service-account key file)",
        )
    })?;
    let obj = value.as_object().ok_or_else(|| {
        ValidationError::new(field, "must be a JSON object (a service-account key file)")
    })?;
    let has = |k: &str| {
        obj.get(k)
            .and_then(serde_json::Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if !has("client_email") {
        return Err(ValidationError::new(field, "has no client_email"));
    }
    let oauth_disabled = obj
        .get("disable_oauth")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    if !oauth_disabled && !has("private_key") {
        return Err(ValidationError::new(field, "has no private_key"));
    }
    Ok(())
}

/// An Azure storage connection string: `;`-separated `Key=Value` pairs naming an account, or
/// `UseDevelopmentStorage=true`.
fn check_connection_string(field: &str, conn: &SecretString) -> Result<()> {
    let mut has_account = false;
    for part in conn
        .expose_secret()
        .split(';')
        .filter(|p| !p.trim().is_empty())
    {
        let (key, _) = part.split_once('=').ok_or_else(|| {
            ValidationError::new(field, "must be a list of Key=Value pairs separated by ';'")
        })?;
        let key = key.trim();
        has_account |= key.eq_ignore_ascii_case("AccountName")
            || key.eq_ignore_ascii_case("UseDevelopmentStorage")
            || key.eq_ignore_ascii_case("BlobEndpoint");
    }
    if !has_account {
        return Err(ValidationError::new(
            field,
            "names no AccountName or BlobEndpoint",
        ));
    }
    Ok(())
}
