//! What can go wrong in a command, and the exit code each kind ends the program with.
//!
//! The codes are the documented contract of `omsctl` (see `--help`): 0 done, 1 the task or group
//! failed (or stopped before it completed), 2 bad usage, 3 an API or network error.

use std::process::ExitCode;

/// An `omsctl` failure. Every message is one line: the OMS code and message for API errors,
/// never a stack trace.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CtlError {
    /// The command line, a profile or a keys file is wrong, or a key is missing.
    #[error("{0}")]
    Usage(String),
    /// omsd answered with an error (`{"error_code","error_msg"}`).
    #[error("{code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// `OMS.xxxx` / `APIGW.xxxx` (or `HTTP.<status>` when the body is not OMS-shaped).
        code: String,
        /// The message omsd gave.
        message: String,
    },
    /// omsd could not be reached, or its answer could not be read.
    #[error("cannot reach omsd at {endpoint}: {detail}")]
    Network {
        /// The endpoint called.
        endpoint: String,
        /// What failed, every cause on one line.
        detail: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The task or group ended failed, or stopped before it completed.
    #[error("{0}")]
    Failed(String),
}

impl CtlError {
    /// The process's exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code())
    }

    /// The number behind [`Self::exit_code`].
    pub fn code(&self) -> u8 {
        match self {
            Self::Failed(_) => 1,
            Self::Usage(_) => 2,
            Self::Api { .. } | Self::Network { .. } | Self::File { .. } => 3,
        }
    }

    /// A usage error from anything printable.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    /// The OMS error code, when omsd gave one.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The error as the JSON object `--output json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        let code = match self {
            Self::Api { code, .. } => code.clone(),
            Self::Usage(_) => "USAGE".to_owned(),
            Self::Network { .. } => "NETWORK".to_owned(),
            Self::File { .. } => "FILE".to_owned(),
            Self::Failed(_) => "FAILED".to_owned(),
        };
        let message = match self {
            Self::Api { message, .. } => message.clone(),
            other => other.to_string(),
        };
        serde_json::json!({"error_code": code, "error_msg": message, "exit_code": self.code()})
    }
}

/// Every cause of `error`, joined on one line (`a: b: c`).
pub(crate) fn one_line(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_documented_contract() {
        assert_eq!(CtlError::Failed("x".into()).code(), 1);
        assert_eq!(CtlError::usage("x").code(), 2);
        let api = CtlError::Api {
            status: 400,
            code: "OMS.1009".into(),
            message: "no resources found".into(),
        };
        assert_eq!(api.code(), 3);
        assert_eq!(api.to_string(), "OMS.1009: no resources found");
        assert_eq!(api.to_json()["error_code"], "OMS.1009");
        assert_eq!(api.to_json()["exit_code"], 3);
    }
}
