//! Request extractors that fail the AWS way: a malformed body, path or query parameter becomes an
//! `InvalidRequestException` naming the problem, never a framework's plain-text rejection.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use thingbox_model::arn::Scope;
use thingbox_model::paging;

use super::error::ApiError;
use crate::Error;

/// Largest request body accepted (AWS IoT's largest documents are far smaller).
pub const MAX_BODY: usize = 1024 * 1024;
/// Largest OTA file uploaded through the console.
pub const MAX_OTA_FILE: usize = 512 * 1024 * 1024;
/// Largest uploaded recording (a replay body).
pub const MAX_RECORDING: usize = 256 * 1024 * 1024;

/// The most body bytes a request to `path` may carry (the routes above set the same limits): a
/// larger `Content-Length` is refused before the body is read.
pub fn body_limit(path: &str) -> usize {
    if path.starts_with("/console/api/ota-files/") {
        MAX_OTA_FILE
    } else if path == "/console/api/replays" {
        MAX_RECORDING
    } else {
        MAX_BODY
    }
}

/// Runs `work` to its end even if the client goes away (hyper drops the handler of a connection
/// that closed): a write queued for storage is then always settled, and memory put back if the
/// write was refused.
pub async fn to_the_end<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::spawn(work).await {
        Ok(done) => done,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only when the runtime stops under it.
        Err(_) => Err(ApiError(Error::Storage(crate::storage::StorageError::WriterGone))),
    }
}

/// A required request member: `None` becomes AWS's "Member must not be null" validation error.
pub fn required<T>(value: Option<T>, member: &str) -> Result<T, Error> {
    value.ok_or_else(|| {
        Error::InvalidRequest(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// Per-request context the dispatcher attaches: the region ARNs are rendered in, and the account.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Region and account.
    pub scope: Scope,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Ctx>()
            .cloned()
            .ok_or_else(|| ApiError(Error::InvalidRequest("request context missing".into())))
    }
}

/// A JSON object request body (an empty body reads as `{}`).
#[derive(Debug)]
pub struct AwsJson<T>(pub T);

/// A JSON array request body (an empty body reads as `[]`).
#[derive(Debug)]
pub struct AwsJsonArray<T>(pub Vec<T>);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for AwsJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // serde would read a JSON array as a struct's fields in order; AWS wants an object.
        json_body(req, state, b'{', "a JSON object ({…})").await.map(Self)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AwsJsonArray<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        json_body(req, state, b'[', "a JSON array ([…])").await.map(Self)
    }
}

/// Reads a body of at most [`MAX_BODY`] bytes that must open with `opening` (or be empty: then
/// `T::default()`).
async fn json_body<S: Send + Sync, T: DeserializeOwned + Default>(
    req: Request,
    state: &S,
    opening: u8,
    what: &str,
) -> Result<T, ApiError> {
    let bytes = Bytes::from_request(req, state).await.map_err(|e| {
        ApiError(if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge(format!("The request body is larger than {MAX_BODY} bytes (1 MB)"))
        } else {
            Error::InvalidRequest(format!("The request body could not be read: {e}"))
        })
    })?;
    let Some(first) = bytes.iter().find(|b| !b.is_ascii_whitespace()) else {
        return Ok(T::default());
    };
    if *first != opening {
        return Err(ApiError(Error::InvalidRequest(format!(
            "The request body is not valid JSON for this operation: it must be {what}"
        ))));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError(Error::InvalidRequest(format!("The request body is not valid JSON for this operation: {e}")))
    })
}

/// One path parameter (a resource name), percent-decoded.
#[derive(Debug)]
pub struct Name(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Name {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(n)| Self(n))
            .map_err(|e| ApiError(Error::InvalidRequest(format!("Invalid path: {e}"))))
    }
}

/// Query-string parameters with typed, AWS-validated accessors.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>, Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|q| Self(q.0.iter().cloned().collect(), q.0))
            .map_err(|e| ApiError(Error::InvalidRequest(format!("Invalid query string: {e}"))))
    }
}

impl Params {
    /// A string parameter.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every value of a repeated parameter, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.1.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    /// A boolean parameter (`true`/`false`).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, Error> {
        match self.str(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => {
                Err(Error::InvalidRequest(format!("Query parameter {name} must be true or false, not '{v}'")))
            }
        }
    }

    /// An integer parameter within `min..=max`.
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, Error> {
        let Some(raw) = self.str(name) else { return Ok(None) };
        let v: i64 = raw.parse().map_err(|_| {
            Error::InvalidRequest(format!("Query parameter {name} must be a whole number, not '{raw}'"))
        })?;
        Ok(Some(paging::check_range(name, v, min, max)?))
    }

    /// `maxResults` for registry listings: 1–250, default 50 (the AWS CLI pages by itself).
    pub fn max_results(&self) -> Result<usize, Error> {
        Ok(self.int("maxResults", 1, 250)?.unwrap_or(50) as usize)
    }

    /// `nextToken`, if given (non-empty).
    pub fn next_token(&self) -> Option<&str> {
        self.str("nextToken").filter(|t| !t.is_empty())
    }

    /// The key the previous page ended on, decoded from `nextToken`.
    pub fn page_start(&self) -> Result<Option<String>, Error> {
        self.next_token()
            .map(paging::decode_token)
            .transpose()
            .map_err(|e| Error::InvalidRequest(e.to_string()))
    }

    /// One page of `items` (sorted by `key`) after `nextToken`, at most `max`.
    pub fn page<T>(
        &self,
        items: Vec<T>,
        max: usize,
        key: impl Fn(&T) -> String,
    ) -> Result<paging::Page<T>, Error> {
        let start = self.page_start()?;
        let iter = items.into_iter().filter(|i| start.as_ref().is_none_or(|s| &key(i) > s));
        Ok(paging::page(iter, max, &key))
    }
}
