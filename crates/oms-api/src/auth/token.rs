//! Tokens: JWTs (HS256, key derived from the master key) carrying a user and a project, and
//! the IAM-shaped `POST /v3/auth/tokens` that issues them for a password.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::{Extension, Json};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use oms_core::ids::ProjectId;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;
use utoipa::ToSchema;

use super::logins::NotNow;
use super::{Caller, Principal};
use crate::error::ApiError;
use crate::extract::SmallJsonBody;
use crate::state::AppState;

const ISSUER: &str = "omsd";

/// The subject of operator tokens (`omsd token`): valid for any project the installation serves.
pub const OPERATOR_SUBJECT: &str = "operator";
/// The longest token accepted (as IAM documents for `X-Auth-Token`).
const MAX_TOKEN_LEN: usize = 16_384;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    project_id: String,
    iat: u64,
    exp: u64,
    iss: String,
    /// A user token's password stamp ([`password_stamp`]): a token stops working when its
    /// user's password changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pwd: Option<String>,
}

/// What a token of a user with `password_hash` carries, so that it is refused once the password
/// (and so its hash) changes: a digest of the hash, which tells nothing of the password.
pub fn password_stamp(password_hash: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("oms/token-stamp/v1\n{password_hash}").as_bytes(),
    );
    hex::encode(&digest.as_ref()[..12])
}

/// A token and its validity.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The signed JWT (HS256), sent back in `X-Subject-Token`.
    pub token: String,
    /// When it was issued (its `iat`).
    pub issued_at: SystemTime,
    /// When it stops being accepted (its `exp`: `issued_at` plus `token_ttl_secs`).
    pub expires_at: SystemTime,
}

/// Issues and verifies tokens.
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl TokenIssuer {
    /// An issuer signing with `key`, issuing tokens valid for `ttl`.
    pub fn new(key: &SecretString, ttl: Duration) -> Self {
        let secret = key.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// A token for `user` in `project`, valid from now; `stamp`: the user's
    /// [`password_stamp`] (none for operator tokens).
    pub fn issue(
        &self,
        user: &str,
        project: &ProjectId,
        stamp: Option<&str>,
    ) -> Result<IssuedToken, ApiError> {
        self.issue_at(user, project, stamp, SystemTime::now())
    }

    /// A token for `user` in `project`, issued at `issued_at` (tools and tests).
    pub fn issue_at(
        &self,
        user: &str,
        project: &ProjectId,
        stamp: Option<&str>,
        issued_at: SystemTime,
    ) -> Result<IssuedToken, ApiError> {
        let expires_at = issued_at + self.ttl;
        let claims = Claims {
            sub: user.to_owned(),
            project_id: project.to_string(),
            iat: unix_secs(issued_at),
            exp: unix_secs(expires_at),
            iss: ISSUER.to_owned(),
            pwd: stamp.map(str::to_owned),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("cannot sign a token: {e}")))?;
        Ok(IssuedToken {
            token,
            issued_at,
            expires_at,
        })
    }

    /// The caller a token stands for.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        self.verify_stamped(token).map(|(caller, _)| caller)
    }

    /// The caller a token stands for, and the password stamp it carries.
    pub fn verify_stamped(&self, token: &str) -> Result<(Caller, Option<String>), ApiError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(ApiError::Unauthenticated(
                "X-Auth-Token must be 1-16384 characters".into(),
            ));
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                let why = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the token has expired",
                    _ => "the token is not valid",
                };
                ApiError::Unauthenticated(why.into())
            })?;
        let project_id = ProjectId::parse(&data.claims.project_id)
            .ok_or_else(|| ApiError::Unauthenticated("the token names no valid project".into()))?;
        Ok((
            Caller {
                project_id,
                principal: Principal::User(data.claims.sub),
            },
            data.claims.pwd,
        ))
    }
}

/// `POST /v3/auth/tokens` body (IAM's password method).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The authentication block.
    #[schema(value_type = TokenAuth, required = true)]
    pub auth: Option<TokenAuth>,
}

/// `auth` of a token request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenAuth {
    /// `methods: ["password"]` and the password identity.
    #[schema(value_type = TokenIdentity, required = true)]
    pub identity: Option<TokenIdentity>,
    /// The project the token is for.
    pub scope: Option<TokenScope>,
}

/// `auth.identity`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenIdentity {
    /// Must include `password`.
    #[schema(value_type = Vec<String>, required = true)]
    pub methods: Option<Vec<String>>,
    /// The password identity.
    #[schema(value_type = PasswordIdentity, required = true)]
    pub password: Option<PasswordIdentity>,
}

/// `auth.identity.password`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordIdentity {
    /// Who logs in, and with what password.
    #[schema(value_type = PasswordUser, required = true)]
    pub user: Option<PasswordUser>,
}

/// `auth.identity.password.user`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordUser {
    /// Login name, as configured in `[[auth.users]]`.
    #[schema(value_type = String, required = true, min_length = 1)]
    pub name: Option<String>,
    /// The password, checked against the configured Argon2 hash.
    #[schema(value_type = String, required = true)]
    pub password: Option<SecretString>,
    /// Account (accepted and ignored by a single-tenant install).
    pub domain: Option<NameOrId>,
}

/// `auth.scope`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenScope {
    /// The project asked for, by id or name; it must be the user's project (403 otherwise).
    pub project: Option<NameOrId>,
}

/// A reference by id or name.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NameOrId {
    /// The project id (checked first).
    pub id: Option<String>,
    /// The project name; projects have no names of their own here, so this is the id too.
    pub name: Option<String>,
}

/// `POST /v3/auth/tokens` response body.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The token's description (the token itself is in `X-Subject-Token`).
    pub token: TokenInfo,
}

/// The token's description.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenInfo {
    /// `yyyy-mm-ddThh:mm:ss.ffffffZ`.
    pub expires_at: String,
    /// `yyyy-mm-ddThh:mm:ss.ffffffZ`.
    pub issued_at: String,
    /// `["password"]`.
    pub methods: Vec<String>,
    /// The project the token is scoped to.
    pub project: ProjectRef,
    /// The user the token was issued to.
    pub user: UserRef,
}

/// A project in a token response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectRef {
    /// The project id every request with the token must name.
    pub id: String,
    /// Name (the id: projects have no separate names here).
    pub name: String,
}

/// A user in a token response.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserRef {
    /// The user's login name.
    pub name: String,
}

/// A valid hash of a random password, computed once.
fn stand_in_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let random = format!("{:?}", SystemTime::now());
        crate::password::hash(&SecretString::from(random)).unwrap_or_default()
    })
}

fn iso_time(t: SystemTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    OffsetDateTime::from(t).format(format).unwrap_or_default()
}

/// Issues a token for a user's password, scoped to the user's project.
#[utoipa::path(
    post,
    path = "/v3/auth/tokens",
    tag = "auth",
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Issued; the token is in the X-Subject-Token header", body = TokenResponse,
         headers(("X-Subject-Token" = String, description = "The token, to send as X-Auth-Token"))),
        (status = 400, description = "Malformed request", body = oms_core::wire::ErrorBody),
        (status = 401, description = "Wrong user name or password", body = oms_core::wire::ErrorBody),
        (status = 403, description = "The user may not use the requested project", body = oms_core::wire::ErrorBody),
        (status = 429, description = "Too many logins at once, or too many failures of this user or address: retry after the Retry-After header's seconds (APIGW.0308)", body = oms_core::wire::ErrorBody),
    )
)]
pub async fn issue_token(
    State(state): State<AppState>,
    connection: Option<Extension<ConnectInfo<SocketAddr>>>,
    SmallJsonBody(req): SmallJsonBody<TokenRequest>,
) -> Result<(StatusCode, HeaderMap, Json<TokenResponse>), ApiError> {
    let address = connection.map(|Extension(ConnectInfo(addr))| addr.ip());
    let auth = req
        .auth
        .ok_or_else(|| ApiError::invalid("auth", "is required"))?;
    let identity = auth
        .identity
        .ok_or_else(|| ApiError::invalid("auth.identity", "is required"))?;
    if !identity
        .methods
        .unwrap_or_default()
        .iter()
        .any(|m| m == "password")
    {
        return Err(ApiError::invalid(
            "auth.identity.methods",
            "must include \"password\"",
        ));
    }
    let user = identity
        .password
        .and_then(|p| p.user)
        .ok_or_else(|| ApiError::invalid("auth.identity.password.user", "is required"))?;
    let name = user
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::invalid("auth.identity.password.user.name", "is required"))?;
    let password = user
        .password
        .ok_or_else(|| ApiError::invalid("auth.identity.password.user.password", "is required"))?;

    let account = state.auth.user(&name).cloned();
    // Each check costs an Argon2 hash: their number is bounded, and names and addresses that
    // keep failing wait (see `logins`).
    let guard = state.auth.logins();
    let turn = guard
        .turn(&name, address)
        .await
        .map_err(|not_now| match not_now {
            NotNow::LockedOut(wait) => ApiError::Throttled {
                message: "too many failed logins for this user or from this address; retry later"
                    .into(),
                retry_after_secs: wait.as_secs().max(1),
            },
            NotNow::Busy => ApiError::Throttled {
                message: "too many logins at once; retry later".into(),
                retry_after_secs: 1,
            },
        })?;
    // An unknown name is checked against a stand-in hash, so that it takes as long as a wrong
    // password and the timing does not tell which names exist.
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    // Argon2 is deliberately slow: keep it off the async workers.
    let verified = tokio::task::spawn_blocking(move || {
        let matches = crate::password::verify(
            &password,
            hash.as_deref().unwrap_or_else(|| stand_in_hash()),
        );
        matches && hash.is_some()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("password check panicked: {e}")))?;
    drop(turn);
    guard.record(&name, address, verified);
    let account = match account {
        Some(account) if verified => account,
        _ => {
            return Err(ApiError::Unauthenticated(
                "wrong user name or password".into(),
            ));
        }
    };
    if let Some(project) = auth.scope.and_then(|s| s.project) {
        let wanted = project.id.or(project.name).unwrap_or_default();
        if !wanted.is_empty() && wanted != account.project_id.as_str() {
            return Err(ApiError::Forbidden(format!(
                "user {name} may not use project {wanted}"
            )));
        }
    }
    let issued = state.auth.tokens().issue(
        &account.name,
        &account.project_id,
        Some(&password_stamp(&account.password_hash)),
    )?;
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-subject-token",
        HeaderValue::from_str(&issued.token).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    tracing::info!(user = %account.name, project.id = %account.project_id, "token issued");
    let body = TokenResponse {
        token: TokenInfo {
            expires_at: iso_time(issued.expires_at),
            issued_at: iso_time(issued.issued_at),
            methods: vec!["password".into()],
            project: ProjectRef {
                id: account.project_id.to_string(),
                name: account.project_id.to_string(),
            },
            user: UserRef { name: account.name },
        },
    };
    Ok((StatusCode::CREATED, headers, Json(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(ttl_secs: u64) -> TokenIssuer {
        TokenIssuer::new(
            &SecretString::from("k".repeat(64)),
            Duration::from_secs(ttl_secs),
        )
    }

    #[test]
    fn tokens_round_trip_to_their_project() {
        let project = ProjectId::parse("p1").unwrap();
        let t = issuer(60).issue("admin", &project, None).unwrap();
        let caller = issuer(60).verify(&t.token).unwrap();
        assert_eq!(caller.project_id, project);
        assert_eq!(caller.principal, Principal::User("admin".into()));
    }

    #[test]
    fn expired_and_foreign_tokens_are_refused() {
        let project = ProjectId::parse("p1").unwrap();
        let old = issuer(60)
            .issue_at(
                "admin",
                &project,
                None,
                SystemTime::now() - Duration::from_secs(3600),
            )
            .unwrap();
        let err = issuer(60).verify(&old.token).unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        let other = TokenIssuer::new(&SecretString::from("x".repeat(64)), Duration::from_secs(60));
        assert!(
            other
                .verify(&issuer(60).issue("a", &project, None).unwrap().token)
                .is_err()
        );
        assert!(issuer(60).verify("garbage").is_err());
    }

    #[test]
    fn iso_times_look_like_iam() {
        assert_eq!(
            iso_time(UNIX_EPOCH + Duration::from_secs(1_795_837_184)),
            "2026-11-28T03:39:44.000000Z"
        );
    }
}
