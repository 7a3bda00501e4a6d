//! Profiles: where omsd is and how to authenticate, in a TOML file (`omsctl login` writes one),
//! with `OMSCTL_*` environment variables over them.
//!
//! ```toml
//! [profiles.default]
//! endpoint = "http://127.0.0.1:8080"
//! project_id = "bb24aed7b32ca7e133cf21f07a55fe7d"
//! access_key = "FVZOH9SFPD2F3RNZZ3UY"
//! secret_key = "..."
//! # or: user = "admin" and password = "..." (a token is asked for each run), or token = "..."
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::CtlError;

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// How omsctl proves who it is.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Sign every request with `SDK-HMAC-SHA256`.
    AccessKey {
        /// The access key.
        access_key: String,
        /// The secret key.
        secret_key: SecretString,
    },
    /// Get a token with `POST /v3/auth/tokens` once per run.
    Password {
        /// The user name.
        user: String,
        /// The password.
        password: SecretString,
    },
    /// Send this token as `X-Auth-Token`.
    Token(SecretString),
}

/// A profile, resolved: endpoint, project and credentials.
#[derive(Debug, Clone)]
pub struct Profile {
    /// `http://host:port` of omsd.
    pub endpoint: String,
    /// The project (learnt from the token when logging in with a password or a token).
    pub project_id: Option<String>,
    /// The credentials.
    pub credentials: Credentials,
}

/// A profile as the file holds it.
#[derive(Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredProfile {
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    project_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredFile {
    #[serde(default)]
    profiles: BTreeMap<String, StoredProfile>,
}

/// Where the profiles are: `--config` / `OMSCTL_CONFIG`, else
/// `$XDG_CONFIG_HOME/omsctl/config.toml`, else `~/.config/omsctl/config.toml`.
pub fn config_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_owned();
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("omsctl").join("config.toml")
}

fn read_file(path: &Path) -> Result<StoredFile, CtlError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StoredFile::default()),
        Err(source) => {
            return Err(CtlError::File {
                path: path.display().to_string(),
                source,
            });
        }
    };
    toml::from_str(&text).map_err(|e| {
        CtlError::usage(format!(
            "{}: not a valid omsctl configuration: {}",
            path.display(),
            e.message()
        ))
    })
}

/// The names of the profiles in `path`.
pub fn profile_names(path: &Path) -> Result<Vec<String>, CtlError> {
    Ok(read_file(path)?.profiles.into_keys().collect())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The profile `name` of the file at `path`, with the `OMSCTL_ENDPOINT`, `OMSCTL_PROJECT_ID`,
/// `OMSCTL_TOKEN`, `OMSCTL_ACCESS_KEY` + `OMSCTL_SECRET_KEY` and `OMSCTL_USER` +
/// `OMSCTL_PASSWORD` variables over it (a run needs no file when they say everything), and
/// `endpoint` (the `--endpoint` option) over both.
pub fn resolve(path: &Path, name: &str, endpoint: Option<&str>) -> Result<Profile, CtlError> {
    let file = read_file(path)?;
    let stored = file.profiles.get(name).cloned();
    let named_explicitly = name != DEFAULT_PROFILE;
    if stored.is_none() && named_explicitly {
        return Err(CtlError::usage(format!(
            "no profile {name:?} in {} (omsctl login --profile {name} writes one)",
            path.display()
        )));
    }
    let stored = stored.unwrap_or_default();
    let endpoint = endpoint
        .map(str::to_owned)
        .or_else(|| env("OMSCTL_ENDPOINT"))
        .or(stored.endpoint)
        .ok_or_else(|| {
            CtlError::usage(format!(
                "no omsd endpoint: run omsctl login, set OMSCTL_ENDPOINT, or pass --endpoint \
                 (profile {name:?} of {})",
                path.display()
            ))
        })?;
    let secret = |v: String| SecretString::from(v);
    let credentials = if let Some(token) = env("OMSCTL_TOKEN") {
        Credentials::Token(secret(token))
    } else if let (Some(access_key), Some(secret_key)) =
        (env("OMSCTL_ACCESS_KEY"), env("OMSCTL_SECRET_KEY"))
    {
        Credentials::AccessKey {
            access_key,
            secret_key: secret(secret_key),
        }
    } else if let (Some(user), Some(password)) = (env("OMSCTL_USER"), env("OMSCTL_PASSWORD")) {
        Credentials::Password {
            user,
            password: secret(password),
        }
    } else if let Some(token) = stored.token {
        Credentials::Token(secret(token))
    } else if let (Some(access_key), Some(secret_key)) = (stored.access_key, stored.secret_key) {
        Credentials::AccessKey {
            access_key,
            secret_key: secret(secret_key),
        }
    } else if let (Some(user), Some(password)) = (stored.user, stored.password) {
        Credentials::Password {
            user,
            password: secret(password),
        }
    } else {
        return Err(CtlError::usage(format!(
            "no credentials: run omsctl login, or set OMSCTL_TOKEN, OMSCTL_ACCESS_KEY and \
             OMSCTL_SECRET_KEY, or OMSCTL_USER and OMSCTL_PASSWORD (profile {name:?} of {})",
            path.display()
        )));
    };
    Ok(Profile {
        endpoint: endpoint.trim_end_matches('/').to_owned(),
        project_id: env("OMSCTL_PROJECT_ID").or(stored.project_id),
        credentials,
    })
}

/// Writes `profile` as `name` into the file at `path` (other profiles are kept), readable by
/// its owner only (0600, in a 0700 folder when omsctl creates it).
pub fn save(path: &Path, name: &str, profile: &Profile) -> Result<(), CtlError> {
    let mut file = read_file(path)?;
    let mut stored = StoredProfile {
        endpoint: Some(profile.endpoint.clone()),
        project_id: profile.project_id.clone(),
        ..StoredProfile::default()
    };
    match &profile.credentials {
        Credentials::AccessKey {
            access_key,
            secret_key,
        } => {
            stored.access_key = Some(access_key.clone());
            stored.secret_key = Some(secret_key.expose_secret().to_owned());
        }
        Credentials::Password { user, password } => {
            stored.user = Some(user.clone());
            stored.password = Some(password.expose_secret().to_owned());
        }
        Credentials::Token(token) => stored.token = Some(token.expose_secret().to_owned()),
    }
    file.profiles.insert(name.to_owned(), stored);
    let text = toml::to_string(&file)
        .map_err(|e| CtlError::usage(format!("cannot write the profile: {e}")))?;
    write_private(path, text.as_bytes())
}

/// Writes `bytes` to `path` through a temporary file (mode 0600) renamed over it.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CtlError> {
    let io = |source: std::io::Error| CtlError::File {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(io)?;
    }
    let temp = path.with_extension("toml.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(&temp).map_err(io)?;
    out.write_all(bytes).map_err(io)?;
    out.sync_all().map_err(io)?;
    drop(out);
    std::fs::rename(&temp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_profile_reads_back_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.toml");
        let signed = Profile {
            endpoint: "http://127.0.0.1:8080".into(),
            project_id: Some("p1".into()),
            credentials: Credentials::AccessKey {
                access_key: "AK".into(),
                secret_key: SecretString::from("SK"),
            },
        };
        save(&path, "default", &signed).unwrap();
        let token = Profile {
            endpoint: "http://other:1".into(),
            project_id: None,
            credentials: Credentials::Token(SecretString::from("T")),
        };
        save(&path, "ops", &token).unwrap();
        assert_eq!(profile_names(&path).unwrap(), ["default", "ops"]);
        let back = resolve(&path, "default", None).unwrap();
        assert_eq!(back.endpoint, "http://127.0.0.1:8080");
        assert!(matches!(back.credentials, Credentials::AccessKey { .. }));
        let ops = resolve(&path, "ops", Some("http://x:2/")).unwrap();
        assert_eq!(ops.endpoint, "http://x:2");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let missing = resolve(&path, "nope", None).unwrap_err();
        assert_eq!(missing.code(), 2);
    }
}
