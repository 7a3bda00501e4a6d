//! Who is calling: an `X-Auth-Token` (a JWT issued by `POST /v3/auth/tokens` or `omsd token`)
//! or an `SDK-HMAC-SHA256` signature with an access key. Either way the caller belongs to one
//! project, and may only use paths of that project.

pub mod logins;
pub mod replay;
pub mod signature;
pub mod token;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use oms_core::ids::ProjectId;
use secrecy::{ExposeSecret as _, SecretString};
use time::PrimitiveDateTime;
use time::macros::format_description;

use crate::error::ApiError;
use crate::state::AppState;
use token::TokenIssuer;

/// A user who may get tokens with a password.
#[derive(Debug, Clone)]
pub struct UserAccount {
    /// Login name given to `POST /v3/auth/tokens`.
    pub name: String,
    /// Argon2 hash of the password (PHC string).
    pub password_hash: String,
    /// The project the user works in.
    pub project_id: ProjectId,
}

/// An access key pair for signed requests.
#[derive(Debug, Clone)]
pub struct AccessKeyAccount {
    /// The access key (AK).
    pub access_key: String,
    /// The secret key (SK).
    pub secret_key: SecretString,
    /// The project the key works in.
    pub project_id: ProjectId,
}

/// The API's authentication settings.
#[derive(Debug)]
pub struct AuthSettings {
    /// Users who may get tokens with a password (from `[[auth.users]]`).
    pub users: Vec<UserAccount>,
    /// Key pairs for signed requests (from `[[auth.access_keys]]`, or the bootstrap key).
    pub access_keys: Vec<AccessKeyAccount>,
    /// The key tokens are signed with (derived from the master key).
    pub token_signing_key: SecretString,
    /// How long a token is valid.
    pub token_ttl: Duration,
    /// How far `X-Sdk-Date` may be from the server clock.
    pub max_clock_skew: Duration,
    /// How many password checks may run and wait at once.
    pub logins: logins::LoginLimits,
}

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A token of this user.
    User(String),
    /// A signature with this access key.
    AccessKey(String),
}

/// An authenticated caller. [`require_caller`] puts it into the request's extensions; handlers
/// take it as an extractor.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's project.
    pub project_id: ProjectId,
    /// The user whose token, or the access key whose signature, authenticated the request.
    pub principal: Principal,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Only a route registered outside the project routes can miss it: a bug, not a request
        // to refuse as unauthenticated.
        parts.extensions.get::<Self>().cloned().ok_or_else(|| {
            ApiError::Internal(
                "no authenticated caller: the route is not behind require_caller".into(),
            )
        })
    }
}

/// Checks tokens and signatures.
#[derive(Debug)]
pub struct Authenticator {
    users: Vec<UserAccount>,
    access_keys: HashMap<String, AccessKeyAccount>,
    tokens: TokenIssuer,
    max_clock_skew: Duration,
    /// Signatures of changing requests already taken.
    seen: replay::SeenSignatures,
    /// Bounds on password checks.
    logins: logins::LoginGuard,
}

impl Authenticator {
    /// Builds the authenticator.
    pub fn new(settings: AuthSettings) -> Self {
        Self {
            access_keys: settings
                .access_keys
                .into_iter()
                .map(|k| (k.access_key.clone(), k))
                .collect(),
            tokens: TokenIssuer::new(&settings.token_signing_key, settings.token_ttl),
            users: settings.users,
            max_clock_skew: settings.max_clock_skew,
            seen: replay::SeenSignatures::default(),
            logins: logins::LoginGuard::new(settings.logins),
        }
    }

    /// The bounds on password checks of `POST /v3/auth/tokens`.
    pub fn logins(&self) -> &logins::LoginGuard {
        &self.logins
    }

    /// The issuer of `POST /v3/auth/tokens` tokens, which also verifies them.
    pub fn tokens(&self) -> &TokenIssuer {
        &self.tokens
    }

    pub(crate) fn user(&self, name: &str) -> Option<&UserAccount> {
        self.users.iter().find(|u| u.name == name)
    }

    /// Refuses a token whose user (or, for an operator token, whose project) the configuration
    /// no longer has: a user removed from `[[auth.users]]`, or moved to another project, loses
    /// the tokens issued before the restart that took the change.
    fn check_still_served(&self, caller: &Caller, stamp: Option<&str>) -> Result<(), ApiError> {
        let Principal::User(name) = &caller.principal else {
            return Ok(());
        };
        let project = &caller.project_id;
        let served = if name == token::OPERATOR_SUBJECT {
            self.users.iter().any(|u| &u.project_id == project)
                || self.access_keys.values().any(|k| &k.project_id == project)
        } else {
            let Some(user) = self.user(name).filter(|u| &u.project_id == project) else {
                return Err(ApiError::Unauthenticated(format!(
                    "the token is for a user or project this installation no longer serves \
                     (project {project}); get a new token"
                )));
            };
            if stamp != Some(token::password_stamp(&user.password_hash).as_str()) {
                return Err(ApiError::Unauthenticated(format!(
                    "the password of user {name} changed since the token was issued; get a new token"
                )));
            }
            true
        };
        if served {
            return Ok(());
        }
        Err(ApiError::Unauthenticated(format!(
            "the token is for a user or project this installation no longer serves \
             (project {project}); get a new token"
        )))
    }

    /// What can be told of a request before its body is read: a token is verified whole; a
    /// signature's access key is looked up and its date checked (the body, which the
    /// signature covers, is read only after that: see [`Self::finish`]).
    pub fn identify<'a>(&'a self, parts: &'a Parts) -> Result<Identified<'a>, ApiError> {
        if let Some(token) = parts.headers.get("x-auth-token") {
            let token = token
                .to_str()
                .map_err(|_| ApiError::Unauthenticated("X-Auth-Token is not valid text".into()))?;
            let (caller, stamp) = self.tokens.verify_stamped(token)?;
            self.check_still_served(&caller, stamp.as_deref())?;
            return Ok(Identified::Caller(caller));
        }
        if let Some(value) = parts.headers.get(http::header::AUTHORIZATION) {
            let value = value
                .to_str()
                .map_err(|_| ApiError::Unauthenticated("Authorization is not valid text".into()))?;
            return self.identify_signed(parts, value).map(Identified::Signed);
        }
        Err(ApiError::Unauthenticated(
            "missing credentials: send an X-Auth-Token header or an SDK-HMAC-SHA256 signed request"
                .into(),
        ))
    }

    /// Authenticates a request by its token or its signature (`body` is the whole body).
    pub fn authenticate(&self, parts: &Parts, body: &[u8]) -> Result<Caller, ApiError> {
        let identified = self.identify(parts)?;
        self.finish(parts, identified, body)
    }

    /// Completes what [`Self::identify`] began, with the whole `body`.
    pub fn finish(
        &self,
        parts: &Parts,
        identified: Identified<'_>,
        body: &[u8],
    ) -> Result<Caller, ApiError> {
        match identified {
            Identified::Caller(caller) => Ok(caller),
            Identified::Signed(signed) => self.verify_signature(parts, &signed, body),
        }
    }

    fn identify_signed<'a>(
        &'a self,
        parts: &Parts,
        authorization: &'a str,
    ) -> Result<Signed<'a>, ApiError> {
        let auth = signature::parse_authorization(authorization).ok_or_else(|| {
            ApiError::Unauthenticated("Authorization is not an SDK-HMAC-SHA256 signature".into())
        })?;
        // An unknown key reads as a wrong signature: the answer does not tell which keys exist.
        let account = self
            .access_keys
            .get(auth.access)
            .ok_or_else(signature_refused)?;
        // The signing time must be covered (it bounds replays); which other headers are
        // signed is the client's choice: the Python SDK signs `host`, the Go SDK (and so the
        // Terraform provider) does not. Whatever is listed is verified.
        if !auth.signed_headers.contains(&signature::DATE_HEADER) {
            return Err(ApiError::Unauthenticated(format!(
                "the signature must cover the {} header",
                signature::DATE_HEADER
            )));
        }
        let date = header_of(parts, signature::DATE_HEADER)
            .ok_or_else(|| ApiError::Unauthenticated("X-Sdk-Date is missing".into()))?;
        let signed_at = self.check_clock_skew(&date)?;
        Ok(Signed {
            auth,
            account,
            date,
            signed_at,
        })
    }

    fn verify_signature(
        &self,
        parts: &Parts,
        signed: &Signed<'_>,
        body: &[u8],
    ) -> Result<Caller, ApiError> {
        let (auth, account) = (&signed.auth, signed.account);
        let mut values = Vec::with_capacity(auth.signed_headers.len());
        for name in &auth.signed_headers {
            let value = header_of(parts, name).ok_or_else(|| {
                ApiError::Unauthenticated(format!("signed header {name} is missing"))
            })?;
            values.push((*name, value));
        }
        let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let declared = header_of(parts, signature::CONTENT_SHA256_HEADER);
        let payload =
            signature::payload_hash(body, declared.as_deref()).map_err(
                |refused| match refused {
                    signature::PayloadRefused::Unsigned => ApiError::Unauthenticated(format!(
                        "{} {} is only for requests without a body: sign the body",
                        signature::CONTENT_SHA256_HEADER,
                        signature::UNSIGNED_PAYLOAD
                    )),
                    signature::PayloadRefused::Mismatch => signature_refused(),
                },
            )?;
        let canonical = signature::canonical_request(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query(),
            &pairs,
            &payload,
        );
        let to_sign = signature::string_to_sign(&signed.date, &canonical);
        if !signature::verify(
            account.secret_key.expose_secret().as_bytes(),
            &to_sign,
            auth.signature,
        ) {
            return Err(signature_refused());
        }
        if let Some(project) = header_of(parts, "x-project-id")
            && project != account.project_id.as_str()
        {
            return Err(ApiError::Forbidden(format!(
                "the access key may not act for project {project}"
            )));
        }
        // A signed request that changes something is taken once: a copy of it sent again
        // within the clock-skew window is refused.
        if !matches!(parts.method, http::Method::GET | http::Method::HEAD)
            && !self.seen.first_time(
                &account.access_key,
                auth.signature,
                signed.signed_at + self.max_clock_skew,
            )
        {
            return Err(ApiError::Unauthenticated(
                "this signed request was received before: sign every request anew".into(),
            ));
        }
        Ok(Caller {
            project_id: account.project_id.clone(),
            principal: Principal::AccessKey(account.access_key.clone()),
        })
    }

    /// Checks `X-Sdk-Date` against the clock; returns when it says the request was signed.
    fn check_clock_skew(&self, sdk_date: &str) -> Result<SystemTime, ApiError> {
        let format = format_description!("[year][month][day]T[hour][minute][second]Z");
        let signed_at = PrimitiveDateTime::parse(sdk_date, format)
            .map_err(|_| ApiError::Unauthenticated("X-Sdk-Date must be YYYYMMDDTHHMMSSZ".into()))?
            .assume_utc();
        let signed_at = SystemTime::from(signed_at);
        let now = SystemTime::now();
        let skew = now
            .duration_since(signed_at)
            .or_else(|_| signed_at.duration_since(now))
            .unwrap_or_default();
        if skew > self.max_clock_skew {
            return Err(ApiError::Unauthenticated(format!(
                "X-Sdk-Date is {}s away from the server clock (at most {}s allowed)",
                skew.as_secs(),
                self.max_clock_skew.as_secs()
            )));
        }
        Ok(signed_at)
    }
}

/// The one answer to every signature that does not verify — an unknown access key, a wrong
/// secret, a request altered after signing — so that it tells nothing of which keys exist.
fn signature_refused() -> ApiError {
    ApiError::Unauthenticated(
        "the signature does not match: check the access key, the secret key and what was signed"
            .into(),
    )
}

/// A header's value as text (`host`: the Host header, or the URI's authority).
fn header_of(parts: &Parts, name: &str) -> Option<String> {
    if name == "host" {
        if let Some(h) = parts.headers.get(http::header::HOST) {
            return Some(String::from_utf8_lossy(h.as_bytes()).into_owned());
        }
        return parts.uri.authority().map(|a| a.as_str().to_owned());
    }
    parts
        .headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// A caller as far as it is known before the body is read.
#[derive(Debug)]
pub enum Identified<'a> {
    /// Known in full (a token).
    Caller(Caller),
    /// A signed request whose key and date are checked; the signature itself waits for the
    /// body.
    Signed(Signed<'a>),
}

/// A signed request, before its body.
#[derive(Debug)]
pub struct Signed<'a> {
    auth: signature::Authorization<'a>,
    account: &'a AccessKeyAccount,
    date: String,
    signed_at: SystemTime,
}

/// The project id in a `/v2/{project_id}/...` path.
fn project_in_path(path: &str) -> Option<&str> {
    let mut segments = path.split('/').skip(1);
    match (segments.next(), segments.next()) {
        (Some("v2"), Some(project)) => Some(project),
        _ => None,
    }
}

/// Refuses a caller acting on a path of another project (`path_project`: the path's
/// `{project_id}`, as written in the path).
pub(crate) fn check_project(caller: &Caller, path_project: Option<&str>) -> Result<(), ApiError> {
    if path_project == Some(caller.project_id.as_str()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "the credentials belong to project {}, not to the project of this path",
            caller.project_id
        )))
    }
}

/// Middleware of the `/v2/{project_id}/...` routes: authenticates the caller, checks the path's
/// project against the caller's, and hands the caller to the handler. The body is read here
/// (signatures cover it), within the configured limit.
pub async fn require_caller(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    // Nothing of the body is read before the caller is known as far as the headers tell.
    let identified = match state.auth.identify(&parts) {
        Ok(identified) => identified,
        Err(e) => return e.into_response(),
    };
    let bytes = match crate::extract::read_body(body, state.limits.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response(),
    };
    let caller = match state.auth.finish(&parts, identified, &bytes) {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = check_project(&caller, project_in_path(parts.uri.path())) {
        return e.into_response();
    }
    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_is_the_second_segment_of_v2_paths() {
        assert_eq!(project_in_path("/v2/abc/tasks"), Some("abc"));
        assert_eq!(project_in_path("/v2/abc"), Some("abc"));
        assert_eq!(project_in_path("/v3/abc/tasks"), None);
        assert_eq!(project_in_path("/"), None);
    }
}
