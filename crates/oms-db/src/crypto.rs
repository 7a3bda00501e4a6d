//! The master key and the sealing of credentials (AES-256-GCM).
//!
//! The master key is 32 random bytes, kept base64-encoded in a file of mode 0600 (created on
//! first start) or given as `OMS__SECURITY__MASTER_KEY`. Subkeys for separate purposes (sealing
//! credentials, signing tokens) are derived from it with HMAC-SHA256 over a purpose label, so one
//! purpose's key never serves another.

use std::io::Write as _;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use crate::DbError;

const KEY_LEN: usize = 32;
const SEALING_LABEL: &str = "oms/credentials/aes-256-gcm/v1";

/// The node's master key. `Debug` does not show it.
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// A fresh key of 32 random bytes from the system's secure generator.
    pub fn generate() -> Result<Self, DbError> {
        let mut bytes = Zeroizing::new([0_u8; KEY_LEN]);
        aws_lc_rs::rand::fill(bytes.as_mut())
            .map_err(|_| DbError::Crypto("no system randomness".into()))?;
        Ok(Self(bytes))
    }

    /// Reads a base64-encoded key (as in `OMS__SECURITY__MASTER_KEY`).
    pub fn from_base64(encoded: &SecretString) -> Result<Self, DbError> {
        let decoded = Zeroizing::new(
            BASE64
                .decode(encoded.expose_secret().trim())
                .map_err(|_| DbError::Config("the master key is not valid base64".into()))?,
        );
        let bytes: [u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| {
            DbError::Config(format!(
                "the master key must be {KEY_LEN} bytes, got {}",
                decoded.len()
            ))
        })?;
        Ok(Self(Zeroizing::new(bytes)))
    }

    /// The key, base64-encoded.
    pub fn to_base64(&self) -> SecretString {
        SecretString::from(BASE64.encode(self.0.as_ref()))
    }

    /// Loads the key file at `path`, or creates it (mode 0600, with its folder) when missing.
    /// Returns the key and whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), DbError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                warn_if_readable_by_others(path);
                Ok((Self::from_base64(&SecretString::from(text))?, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                match write_private_file(path, key.to_base64().expose_secret().as_bytes()) {
                    Ok(()) => Ok((key, true)),
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::load_or_create(path)
                    }
                    Err(e) => Err(DbError::Config(format!(
                        "cannot create the master key file {}: {e}",
                        path.display()
                    ))),
                }
            }
            Err(e) => Err(DbError::Config(format!(
                "cannot read the master key file {}: {e}",
                path.display()
            ))),
        }
    }

    /// A 32-byte subkey for `purpose` (HMAC-SHA256 of the label under the master key).
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; KEY_LEN]> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.0.as_ref());
        let tag = hmac::sign(&key, purpose.as_bytes());
        let mut out = Zeroizing::new([0_u8; KEY_LEN]);
        out.copy_from_slice(tag.as_ref());
        out
    }
}

/// Creates `path` with mode 0600 (failing if it exists), creating its folder, and writes `bytes`.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Logs a warning when a secret file can be read by other users.
pub fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "secret file is readable by other users; chmod 600 it");
        }
    }
}

/// Seals and opens credentials with AES-256-GCM under a subkey of the master key.
///
/// Each sealing uses a fresh random 96-bit nonce. The associated data binds a ciphertext to its
/// owner, so sealed credentials copied onto another row do not open.
pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// A sealer keyed by `master`.
    pub fn new(master: &MasterKey) -> Result<Self, DbError> {
        let subkey = master.derive(SEALING_LABEL);
        let unbound = UnboundKey::new(&AES_256_GCM, subkey.as_ref())
            .map_err(|_| DbError::Crypto("bad key length".into()))?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Encrypts `plaintext` for `owner`; returns (nonce, ciphertext with tag).
    pub fn seal(&self, owner: &str, plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), DbError> {
        let mut nonce = [0_u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| DbError::Crypto("no system randomness".into()))?;
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| DbError::Crypto("seal failed".into()))?;
        Ok((nonce.to_vec(), in_out))
    }

    /// Decrypts what [`Self::seal`] produced for `owner`.
    pub fn open(
        &self,
        owner: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, DbError> {
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| DbError::Crypto("bad nonce".into()))?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let len = self
            .key
            .open_in_place(nonce, Aad::from(owner.as_bytes()), in_out.as_mut_slice())
            .map_err(|_| DbError::Crypto("credentials do not open under this master key".into()))?
            .len();
        in_out.truncate(len);
        Ok(in_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_credentials_open_only_for_their_owner_and_key() {
        let master = MasterKey::generate().unwrap();
        let sealer = Sealer::new(&master).unwrap();
        let (nonce, sealed) = sealer.seal("task:1", b"secret-sk").unwrap();
        assert!(!sealed.windows(9).any(|w| w == b"secret-sk"));
        assert_eq!(
            sealer.open("task:1", &nonce, &sealed).unwrap().as_slice(),
            b"secret-sk"
        );
        assert!(sealer.open("task:2", &nonce, &sealed).is_err());
        let other = Sealer::new(&MasterKey::generate().unwrap()).unwrap();
        assert!(other.open("task:1", &nonce, &sealed).is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/master.key");
        let (first, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let (second, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(
            first.to_base64().expose_secret(),
            second.to_base64().expose_secret()
        );
    }

    #[test]
    fn bad_master_keys_are_refused() {
        assert!(MasterKey::from_base64(&SecretString::from("not base64!")).is_err());
        assert!(MasterKey::from_base64(&SecretString::from(BASE64.encode([1_u8; 16]))).is_err());
    }
}
