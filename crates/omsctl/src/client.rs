//! The REST client: every call goes to omsd's API, signed with `SDK-HMAC-SHA256` by the same
//! code omsd verifies with ([`oms_core::signing`]), or sent with an `X-Auth-Token`.
//!
//! Each request is signed anew (omsd refuses a changing request whose signature it has seen
//! before), and its body is covered by the signature.

use std::time::Duration;

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

use crate::config::{Credentials, Profile};
use crate::error::{CtlError, one_line};

/// How long connecting to omsd may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one call may take (the bucket helpers ask the stores, which can be slow).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Query values: everything but `A-Z a-z 0-9 - _ . ~` is encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A query string (`?a=1&b=x%20y`) of the pairs whose value is present.
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .map(|v| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// How requests are authenticated.
#[derive(Debug)]
enum Auth {
    Signed {
        access_key: String,
        secret_key: SecretString,
    },
    Token(SecretString),
}

/// A client of one omsd, for one project.
#[derive(Debug)]
pub struct Api {
    http: reqwest::Client,
    endpoint: Url,
    project_id: String,
    auth: Auth,
}

fn http_client() -> Result<reqwest::Client, CtlError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("omsctl/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CtlError::Network {
            endpoint: String::new(),
            detail: one_line(&e),
        })
}

fn parse_endpoint(endpoint: &str) -> Result<Url, CtlError> {
    let url = Url::parse(endpoint)
        .map_err(|e| CtlError::usage(format!("endpoint {endpoint:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(CtlError::usage(format!(
            "endpoint {endpoint:?} must be http://host:port or https://host:port"
        )));
    }
    Ok(url)
}

impl Api {
    /// A client for `profile`: a password profile gets its token here (one login per run).
    pub async fn connect(profile: &Profile) -> Result<Self, CtlError> {
        let http = http_client()?;
        let endpoint = parse_endpoint(&profile.endpoint)?;
        let (auth, project_id) = match &profile.credentials {
            Credentials::AccessKey {
                access_key,
                secret_key,
            } => (
                Auth::Signed {
                    access_key: access_key.clone(),
                    secret_key: secret_key.clone(),
                },
                profile.project_id.clone(),
            ),
            Credentials::Token(token) => (
                Auth::Token(token.clone()),
                profile
                    .project_id
                    .clone()
                    .or_else(|| project_of_token(token.expose_secret())),
            ),
            Credentials::Password { user, password } => {
                let issued = login(
                    &http,
                    &endpoint,
                    user,
                    password,
                    profile.project_id.as_deref(),
                )
                .await?;
                (Auth::Token(issued.token), Some(issued.project_id))
            }
        };
        let project_id = project_id.ok_or_else(|| {
            CtlError::usage(
                "no project: give --project to omsctl login, or set OMSCTL_PROJECT_ID".to_owned(),
            )
        })?;
        Ok(Self {
            http,
            endpoint,
            project_id,
            auth,
        })
    }

    /// The project every call is made in.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// `GET /v2/{project}/{path}`.
    pub async fn get(&self, path: &str) -> Result<Value, CtlError> {
        self.call(Method::GET, path, None).await
    }

    /// `POST /v2/{project}/{path}` with a JSON body (or none).
    pub async fn post(&self, path: &str, body: Option<&Value>) -> Result<Value, CtlError> {
        self.call(Method::POST, path, body).await
    }

    /// `PUT /v2/{project}/{path}` with a JSON body (or none).
    pub async fn put(&self, path: &str, body: Option<&Value>) -> Result<Value, CtlError> {
        self.call(Method::PUT, path, body).await
    }

    /// `DELETE /v2/{project}/{path}`.
    pub async fn delete(&self, path: &str) -> Result<Value, CtlError> {
        self.call(Method::DELETE, path, None).await
    }

    /// One call of a project route: `path` is relative to `/v2/{project}/` and may carry a
    /// query made by [`query`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CtlError> {
        let url = self
            .endpoint
            .join(&format!("/v2/{}/{path}", self.project_id))
            .map_err(|e| CtlError::usage(format!("bad path {path:?}: {e}")))?;
        let bytes = match body {
            Some(body) => serde_json::to_vec(body)
                .map_err(|e| CtlError::usage(format!("cannot encode the request: {e}")))?,
            None => Vec::new(),
        };
        let content_type = body.map(|_| "application/json;charset=UTF-8");
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request = match &self.auth {
            Auth::Token(token) => request.header("x-auth-token", token.expose_secret()),
            Auth::Signed {
                access_key,
                secret_key,
            } => {
                let date = sdk_date_now();
                let host = host_header(&url);
                let mut headers = vec![
                    ("host", host.as_str()),
                    ("x-project-id", self.project_id.as_str()),
                    ("x-sdk-date", date.as_str()),
                ];
                if let Some(ct) = content_type {
                    headers.push(("content-type", ct));
                }
                let authorization = oms_core::signing::sign(
                    access_key,
                    secret_key.expose_secret().as_bytes(),
                    method.as_str(),
                    url.path(),
                    url.query(),
                    &headers,
                    &bytes,
                );
                request
                    .header("x-project-id", &self.project_id)
                    .header("x-sdk-date", date)
                    .header("authorization", authorization)
            }
        };
        let response = request
            .body(bytes)
            .send()
            .await
            .map_err(|e| network(&url, e))?;
        read_answer(&url, response).await.map(|(_, body)| body)
    }
}

/// The `Host` header reqwest sends for `url` (the port only when it is not the scheme's).
fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// `X-Sdk-Date` for now: `YYYYMMDDTHHMMSSZ` in UTC.
fn sdk_date_now() -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::now_utc()
        .format(format)
        .unwrap_or_default()
}

/// A failure to reach omsd, told without the URL (the endpoint is named once).
fn network(url: &Url, error: reqwest::Error) -> CtlError {
    let mut endpoint = url.clone();
    endpoint.set_path("");
    endpoint.set_query(None);
    CtlError::Network {
        endpoint: endpoint.as_str().trim_end_matches('/').to_owned(),
        detail: one_line(&error.without_url()),
    }
}

/// The headers and JSON body of a 2xx answer (`Null` when empty), or the OMS error it carries.
async fn read_answer(
    url: &Url,
    response: reqwest::Response,
) -> Result<(reqwest::header::HeaderMap, Value), CtlError> {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.map_err(|e| network(url, e))?;
    if status.is_success() {
        if text.trim().is_empty() {
            return Ok((headers, Value::Null));
        }
        let body = serde_json::from_str(&text).map_err(|e| CtlError::Network {
            endpoint: url.to_string(),
            detail: format!("the answer is not JSON: {e}"),
        })?;
        return Ok((headers, body));
    }
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let code = body["error_code"]
        .as_str()
        .map_or_else(|| format!("HTTP.{}", status.as_u16()), str::to_owned);
    let mut message = body["error_msg"].as_str().map_or_else(
        || {
            text.chars()
                .take(200)
                .collect::<String>()
                .replace('\n', " ")
        },
        str::to_owned,
    );
    if let Some(after) = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .filter(|_| status.as_u16() == 429)
    {
        message.push_str(&format!(" (retry after {after} s)"));
    }
    Err(CtlError::Api {
        status: status.as_u16(),
        code,
        message,
    })
}

/// A token and the project it is for.
#[derive(Debug)]
pub struct IssuedToken {
    /// The token (`X-Subject-Token`).
    pub token: SecretString,
    /// The project the token is scoped to.
    pub project_id: String,
}

/// `POST /v3/auth/tokens` with a user's password (scoped to `project_id` when given).
pub async fn login(
    http: &reqwest::Client,
    endpoint: &Url,
    user: &str,
    password: &SecretString,
    project_id: Option<&str>,
) -> Result<IssuedToken, CtlError> {
    let url = endpoint
        .join("/v3/auth/tokens")
        .map_err(|e| CtlError::usage(format!("bad endpoint: {e}")))?;
    let mut body = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"name": user, "password": password.expose_secret()}}}}});
    if let Some(project) = project_id {
        body["auth"]["scope"] = json!({"project": {"id": project}});
    }
    let response = http
        .post(url.clone())
        .json(&body)
        .send()
        .await
        .map_err(|e| network(&url, e))?;
    let (headers, answer) = read_answer(&url, response).await?;
    let token = headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| CtlError::Network {
            endpoint: url.to_string(),
            detail: "the answer carries no X-Subject-Token".into(),
        })?;
    let project_id = answer["token"]["project"]["id"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| project_of_token(token))
        .unwrap_or_default();
    Ok(IssuedToken {
        token: SecretString::from(token.to_owned()),
        project_id,
    })
}

/// A password login for `omsctl login`, without a profile yet.
pub async fn login_at(
    endpoint: &str,
    user: &str,
    password: &SecretString,
    project_id: Option<&str>,
) -> Result<IssuedToken, CtlError> {
    login(
        &http_client()?,
        &parse_endpoint(endpoint)?,
        user,
        password,
        project_id,
    )
    .await
}

/// The `project_id` claim of a token omsd issued (read, not verified: omsd verifies it), to know
/// which `/v2/{project_id}` paths to call.
pub fn project_of_token(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["project_id"].as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_encode_values_and_leave_out_absent_ones() {
        assert_eq!(
            query(&[
                ("limit", Some("100".into())),
                ("status", None),
                ("group_id", Some("a b/c".into()))
            ]),
            "?limit=100&group_id=a%20b%2Fc"
        );
        assert_eq!(query(&[("x", None)]), "");
    }

    #[test]
    fn the_project_is_read_from_a_token() {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"u","project_id":"p123","exp":1}"#);
        assert_eq!(
            project_of_token(&format!("h.{claims}.s")).as_deref(),
            Some("p123")
        );
        assert_eq!(project_of_token("garbage"), None);
    }

    #[test]
    fn the_host_header_has_the_port_only_when_given() {
        let url = Url::parse("http://127.0.0.1:8080/v2/p/tasks").unwrap();
        assert_eq!(host_header(&url), "127.0.0.1:8080");
        let url = Url::parse("https://oms.example/v2/p/tasks").unwrap();
        assert_eq!(host_header(&url), "oms.example");
    }
}
