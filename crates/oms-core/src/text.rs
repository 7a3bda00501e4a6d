//! Text rules shared by many fields: the anti-XSS pattern and length limits.

use crate::ValidationError;

/// The characters OMS's anti-XSS pattern (`^[^<>&"'\\]*$`) rejects.
pub const NO_XSS_FORBIDDEN: &[char] = &['<', '>', '&', '"', '\'', '\\'];

/// The characters a task or group description may not contain.
pub const DESCRIPTION_FORBIDDEN: &[char] = &['^', '<', '>', '&', '"', '\'', '\\'];

/// Checks a length range in characters (as OMS counts them).
pub fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), ValidationError> {
    let len = value.chars().count();
    if len < min || len > max {
        let reason = if min == 0 {
            format!("must be at most {max} characters, got {len}")
        } else if min == max {
            format!("must be exactly {min} characters, got {len}")
        } else {
            format!("must be {min}-{max} characters, got {len}")
        };
        return Err(ValidationError::new(field, reason));
    }
    Ok(())
}

/// Checks that none of `forbidden` occurs in `value`.
pub fn check_chars(field: &str, value: &str, forbidden: &[char]) -> Result<(), ValidationError> {
    if let Some(c) = value
        .chars()
        .find(|c| forbidden.contains(c) || c.is_control())
    {
        let shown = if c.is_control() {
            "a control character".to_owned()
        } else {
            format!("'{c}'")
        };
        return Err(ValidationError::new(
            field,
            format!(
                "must not contain {shown} (forbidden: {})",
                forbidden.iter().collect::<String>()
            ),
        ));
    }
    Ok(())
}

/// Length range plus the anti-XSS pattern.
pub fn check_no_xss(
    field: &str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), ValidationError> {
    check_len(field, value, min, max)?;
    check_chars(field, value, NO_XSS_FORBIDDEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_xss_rejects_each_forbidden_character() {
        for c in NO_XSS_FORBIDDEN {
            let err = check_no_xss("bucket", &format!("a{c}b"), 0, 10).unwrap_err();
            assert_eq!(err.field, "bucket");
        }
        assert!(check_no_xss("bucket", "my-bucket.01", 1, 100).is_ok());
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        assert!(check_len("description", &"é".repeat(255), 0, 255).is_ok());
        assert!(check_len("description", &"é".repeat(256), 0, 255).is_err());
        assert!(check_len("dst_node.ak", "", 1, 100).is_err());
    }
}
