//! First start: with no users and no access keys configured, omsd creates a project id and an
//! access key pair, keeps them in the data folder (mode 0600) and prints them once, so that a
//! new user can call the API without editing any configuration.

use std::path::Path;

use oms_core::ids::ProjectId;
use rand::Rng as _;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

/// The generated access key.
#[derive(Debug)]
pub struct BootstrapKey {
    /// The project it acts for.
    pub project_id: ProjectId,
    /// The access key omsd generated, printed once on first start.
    pub access_key: String,
    /// Its secret key, kept only in the bootstrap file (mode 0600).
    pub secret_key: SecretString,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    project_id: String,
    access_key: String,
    secret_key: SecretString,
}

fn random_text(len: usize, upper: bool) -> String {
    let text: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    if upper {
        text.to_ascii_uppercase()
    } else {
        text
    }
}

/// Loads the bootstrap key from `path`; `None` when the file does not exist (nothing is created).
pub fn load(path: &Path) -> anyhow::Result<Option<BootstrapKey>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    oms_db::crypto::warn_if_readable_by_others(path);
    let stored: Stored = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a bootstrap key file: {e}", path.display()))?;
    let project_id = ProjectId::parse(&stored.project_id)
        .ok_or_else(|| anyhow::anyhow!("{}: invalid project_id", path.display()))?;
    Ok(Some(BootstrapKey {
        project_id,
        access_key: stored.access_key,
        secret_key: stored.secret_key,
    }))
}

/// Loads the bootstrap key from `path`, creating it (mode 0600, in a folder of mode 0700) when
/// missing. Returns it and whether it was created now.
pub fn load_or_create(path: &Path) -> anyhow::Result<(BootstrapKey, bool)> {
    if let Some(key) = load(path)? {
        return Ok((key, false));
    }
    let key = BootstrapKey {
        project_id: ProjectId::random(),
        access_key: random_text(20, true),
        secret_key: SecretString::from(random_text(40, false)),
    };
    let text = format!(
        "# Created by omsd on first start. Keep this file private.\n\
         project_id = \"{}\"\naccess_key = \"{}\"\nsecret_key = \"{}\"",
        key.project_id,
        key.access_key,
        key.secret_key.expose_secret()
    );
    let written = crate::files::create_private_folder_of(path)
        .and_then(|()| oms_db::crypto::write_private_file(path, text.as_bytes()));
    match written {
        Ok(()) => Ok((key, true)),
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(path),
        Err(e) => Err(anyhow::anyhow!("cannot create {}: {e}", path.display())),
    }
}

/// Prints a freshly created key for the operator, once.
#[expect(
    clippy::print_stdout,
    reason = "the operator must see the new key once, outside the logs"
)]
pub fn announce(key: &BootstrapKey, path: &Path) {
    println!(
        "\n==================== OMS first start ====================\n\
         No users or access keys are configured, so omsd created an access key:\n\n  \
         project_id = {}\n  access_key = {}\n  secret_key = {}\n\n\
         It is kept in {} (mode 0600) and is shown only this once.\n\
         Sign requests with it (Huawei Cloud SDK: BasicCredentials(ak, sk, project_id)),\n\
         or get a token for curl with `omsd token` (run from this folder, with the same\n\
         configuration).\n\
         =========================================================\n",
        key.project_id,
        key.access_key,
        key.secret_key.expose_secret(),
        path.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/bootstrap.toml");
        let (first, created) = load_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(first.access_key.len(), 20);
        let (second, created) = load_or_create(&path).unwrap();
        assert_eq!(load(&path).unwrap().unwrap().access_key, second.access_key);
        assert!(!created);
        assert_eq!(first.project_id, second.project_id);
        assert_eq!(
            first.secret_key.expose_secret(),
            second.secret_key.expose_secret()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir.path().join("data")), 0o700);
        }
    }

    #[test]
    fn loading_a_missing_key_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/bootstrap.toml");
        assert!(load(&path).unwrap().is_none());
        assert!(!dir.path().join("data").exists());
    }
}
