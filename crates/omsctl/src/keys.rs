//! The stores' keys for create, start, resume and retry: from `OMSCTL_*` environment
//! variables, a keys file, or a prompt without echo — never from the command line, where other
//! users of the machine can read them (`ps`). Only access key ids, which are not secret, may be
//! given as options.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use oms_core::spec::{CdnAuthType, CloudType};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::CtlError;

/// Where keys come from (options shared by every command that sends keys).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KeyArgs {
    /// A TOML file with the keys: src_ak, src_sk, dst_ak, dst_sk, src_connection_string,
    /// src_json_auth_file (a path), cdn_key. Keep it readable by you alone.
    #[arg(long, env = "OMSCTL_KEYS_FILE", value_name = "FILE")]
    pub keys_file: Option<PathBuf>,
    /// The source access key id (not secret; the secret key is never an option).
    #[arg(long, value_name = "AK")]
    pub src_ak: Option<String>,
    /// The destination access key id (not secret; the secret key is never an option).
    #[arg(long, value_name = "AK")]
    pub dst_ak: Option<String>,
    /// Never ask at the terminal: a key that is missing from the environment and the keys file
    /// is an error.
    #[arg(long)]
    pub no_prompt: bool,
}

/// What a keys file may hold.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    src_ak: Option<String>,
    src_sk: Option<String>,
    dst_ak: Option<String>,
    dst_sk: Option<String>,
    src_connection_string: Option<String>,
    src_json_auth_file: Option<PathBuf>,
    cdn_key: Option<String>,
}

/// Which keys a call needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyNeeds {
    /// The source cloud (`None`: no source keys, e.g. a sync start that only needs pairs).
    pub source: Option<CloudType>,
    /// Whether the destination pair is required.
    pub destination: bool,
    /// Whether the source CDN signs URLs (its key is then required).
    pub cdn_key: bool,
}

impl KeyNeeds {
    /// The needs of a migration from `cloud` (any spelling), through a CDN signing with
    /// `cdn_auth` (if any): destination keys always.
    pub fn migration(cloud: &str, cdn_auth: Option<&str>) -> Self {
        Self {
            source: Some(CloudType::parse(cloud).unwrap_or(CloudType::Aliyun)),
            destination: true,
            cdn_key: cdn_auth
                .and_then(CdnAuthType::parse)
                .is_some_and(CdnAuthType::needs_key),
        }
    }
}

/// Keys gathered for one call.
#[derive(Debug, Default)]
pub struct Keys {
    src_ak: Option<SecretString>,
    src_sk: Option<SecretString>,
    dst_ak: Option<SecretString>,
    dst_sk: Option<SecretString>,
    connection_string: Option<SecretString>,
    json_auth_file: Option<SecretString>,
    cdn_key: Option<SecretString>,
}

fn env(name: &str) -> Option<SecretString> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(SecretString::from)
}

fn read_keys_file(path: &Path) -> Result<KeysFile, CtlError> {
    let text = std::fs::read_to_string(path).map_err(|source| CtlError::File {
        path: path.display().to_string(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| {
        CtlError::usage(format!(
            "{}: not a keys file: {}",
            path.display(),
            e.message()
        ))
    })
}

fn read_json_auth_file(path: &Path) -> Result<SecretString, CtlError> {
    std::fs::read_to_string(path)
        .map(SecretString::from)
        .map_err(|source| CtlError::File {
            path: path.display().to_string(),
            source,
        })
}

/// One key: the option (ids only), the variable, the file, then the terminal.
struct Lookup<'a> {
    prompt: bool,
    missing: Vec<&'a str>,
}

impl<'a> Lookup<'a> {
    fn find(
        &mut self,
        option: Option<&String>,
        variable: &'a str,
        from_file: Option<String>,
        label: &str,
        required: bool,
    ) -> Result<Option<SecretString>, CtlError> {
        let found = option
            .cloned()
            .map(SecretString::from)
            .or_else(|| env(variable))
            .or_else(|| from_file.map(SecretString::from));
        if found.is_some() || !required {
            return Ok(found);
        }
        if self.prompt {
            let typed = rpassword::prompt_password(format!("{label}: ")).map_err(|source| {
                CtlError::File {
                    path: "/dev/tty".into(),
                    source,
                }
            })?;
            if !typed.is_empty() {
                return Ok(Some(SecretString::from(typed)));
            }
        }
        self.missing.push(variable);
        Ok(None)
    }
}

impl KeyArgs {
    /// The keys `needs` asks for. Optional ones (the CDN key when not needed) are taken when
    /// given; a required one that is nowhere is asked for at a terminal, else an error naming
    /// the variables to set.
    pub fn gather(&self, needs: KeyNeeds) -> Result<Keys, CtlError> {
        let file = match &self.keys_file {
            Some(path) => read_keys_file(path)?,
            None => KeysFile::default(),
        };
        let prompt = !self.no_prompt && std::io::stdin().is_terminal();
        let mut lookup = Lookup {
            prompt,
            missing: Vec::new(),
        };
        let mut keys = Keys::default();
        match needs.source {
            Some(CloudType::UrlSource) | None => {}
            Some(CloudType::Azure) => {
                keys.connection_string = lookup.find(
                    None,
                    "OMSCTL_SRC_CONNECTION_STRING",
                    file.src_connection_string,
                    "Source connection string",
                    true,
                )?;
            }
            Some(CloudType::Google) => {
                let path = std::env::var_os("OMSCTL_SRC_JSON_AUTH_FILE")
                    .map(PathBuf::from)
                    .or(file.src_json_auth_file);
                match path {
                    Some(path) => keys.json_auth_file = Some(read_json_auth_file(&path)?),
                    None => lookup.missing.push("OMSCTL_SRC_JSON_AUTH_FILE"),
                }
            }
            Some(_) => {
                keys.src_ak = lookup.find(
                    self.src_ak.as_ref(),
                    "OMSCTL_SRC_AK",
                    file.src_ak,
                    "Source access key",
                    true,
                )?;
                keys.src_sk = lookup.find(
                    None,
                    "OMSCTL_SRC_SK",
                    file.src_sk,
                    "Source secret key",
                    true,
                )?;
            }
        }
        keys.dst_ak = lookup.find(
            self.dst_ak.as_ref(),
            "OMSCTL_DST_AK",
            file.dst_ak,
            "Destination access key",
            needs.destination,
        )?;
        keys.dst_sk = lookup.find(
            None,
            "OMSCTL_DST_SK",
            file.dst_sk,
            "Destination secret key",
            needs.destination,
        )?;
        keys.cdn_key = lookup.find(
            None,
            "OMSCTL_CDN_KEY",
            file.cdn_key,
            "CDN authentication key",
            needs.cdn_key,
        )?;
        if !lookup.missing.is_empty() {
            return Err(CtlError::usage(format!(
                "missing keys: set {} (or put them in --keys-file, or run at a terminal to be \
                 asked)",
                lookup.missing.join(", ")
            )));
        }
        Ok(keys)
    }
}

fn put(body: &mut Map<String, Value>, name: &str, value: Option<&SecretString>) {
    if let Some(value) = value {
        body.insert(name.to_owned(), Value::from(value.expose_secret()));
    }
}

impl Keys {
    /// The body of a task start, group start/retry or sync start (`src_ak`, `src_sk`,
    /// `dst_ak`, `dst_sk`, `connection_string`, `json_auth_file`,
    /// `source_cdn_authentication_key`).
    pub fn start_body(&self) -> Map<String, Value> {
        let mut body = Map::new();
        put(&mut body, "src_ak", self.src_ak.as_ref());
        put(&mut body, "src_sk", self.src_sk.as_ref());
        put(&mut body, "dst_ak", self.dst_ak.as_ref());
        put(&mut body, "dst_sk", self.dst_sk.as_ref());
        put(
            &mut body,
            "connection_string",
            self.connection_string.as_ref(),
        );
        put(&mut body, "json_auth_file", self.json_auth_file.as_ref());
        put(
            &mut body,
            "source_cdn_authentication_key",
            self.cdn_key.as_ref(),
        );
        body
    }

    /// Adds the source keys to a create body's `src_node`.
    pub fn fill_source(&self, src_node: &mut Map<String, Value>) {
        put(src_node, "ak", self.src_ak.as_ref());
        put(src_node, "sk", self.src_sk.as_ref());
        put(
            src_node,
            "connection_string",
            self.connection_string.as_ref(),
        );
        put(src_node, "json_auth_file", self.json_auth_file.as_ref());
    }

    /// Adds the destination keys to a create body's `dst_node`.
    pub fn fill_destination(&self, dst_node: &mut Map<String, Value>) {
        put(dst_node, "ak", self.dst_ak.as_ref());
        put(dst_node, "sk", self.dst_sk.as_ref());
    }

    /// The CDN key, for a create body's `source_cdn.authentication_key`.
    pub fn cdn_key(&self) -> Option<&SecretString> {
        self.cdn_key.as_ref()
    }

    /// The keys of a sync-task create body (`src_ak`, ..., flat).
    pub fn fill_flat(&self, body: &mut Map<String, Value>) {
        put(body, "src_ak", self.src_ak.as_ref());
        put(body, "src_sk", self.src_sk.as_ref());
        put(body, "dst_ak", self.dst_ak.as_ref());
        put(body, "dst_sk", self.dst_sk.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_file_and_missing_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        std::fs::write(&path, "src_ak = \"A\"\nsrc_sk = \"B\"\ndst_ak = \"C\"\n").unwrap();
        let args = KeyArgs {
            keys_file: Some(path),
            no_prompt: true,
            ..KeyArgs::default()
        };
        let needs = KeyNeeds::migration("AWS", None);
        let err = args.gather(needs).unwrap_err();
        assert_eq!(err.code(), 2);
        assert!(err.to_string().contains("OMSCTL_DST_SK"), "{err}");

        let urls = KeyNeeds::migration("URLSOURCE", None);
        let err = args.gather(urls).unwrap_err();
        assert!(!err.to_string().contains("OMSCTL_SRC"), "{err}");
    }

    #[test]
    fn a_start_body_carries_what_was_gathered() {
        let keys = Keys {
            src_ak: Some(SecretString::from("A")),
            dst_sk: Some(SecretString::from("D")),
            ..Keys::default()
        };
        let body = keys.start_body();
        assert_eq!(body["src_ak"], "A");
        assert_eq!(body["dst_sk"], "D");
        assert!(!body.contains_key("src_sk"));
    }
}
