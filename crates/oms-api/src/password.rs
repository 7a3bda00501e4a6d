//! Password hashes (argon2id, PHC strings) for `[[auth.users]]`.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use secrecy::{ExposeSecret as _, SecretString};

/// Hashes a password for the configuration file.
pub fn hash(password: &SecretString) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches `hash`; false for a malformed hash.
pub fn verify(password: &SecretString, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
}

/// Whether `hash` is a PHC string this build can verify.
pub fn is_valid_hash(hash: &str) -> bool {
    PasswordHash::new(hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let h = hash(&SecretString::from("s3cret")).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(&SecretString::from("s3cret"), &h));
        assert!(!verify(&SecretString::from("wrong"), &h));
        assert!(!verify(&SecretString::from("s3cret"), "not a hash"));
    }
}
