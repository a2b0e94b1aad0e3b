//! The AWS IoT API as the simulator uses it: the same REST calls boto3 makes (CreateThing,
//! CreateCertificateFromCsr, UpdateThingShadow, CreateJob, …), through a [`Caller`] — the engine's
//! own router in process, or HTTP to a running Thingbox for `thingbox simulate` — so a simulated
//! fleet is made and driven exactly as a user's script would make and drive it.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

/// Which AWS service a call is for (it decides the credential scope the request carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `iot`: the control plane.
    Iot,
    /// `iotdata`: shadows and publishing.
    IotData,
}

impl Service {
    /// The signing name AWS uses.
    pub const fn signing_name(self) -> &'static str {
        match self {
            Self::Iot => "iot",
            Self::IotData => "iotdata",
        }
    }
}

/// One REST call.
#[derive(Debug, Clone)]
pub struct ApiCall {
    /// The service.
    pub service: Service,
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: &'static str,
    /// The path and query.
    pub path: String,
    /// The JSON body.
    pub body: Option<Value>,
    /// Extra headers (`x-amzn-principal`).
    pub headers: Vec<(&'static str, String)>,
    /// A raw body instead of JSON (an OTA file).
    pub bytes: Option<Vec<u8>>,
}

/// Its answer.
#[derive(Debug, Clone)]
pub struct ApiReply {
    /// The HTTP status.
    pub status: u16,
    /// `x-amzn-ErrorType` (without its `:…` suffix), on an error.
    pub error_type: Option<String>,
    /// The JSON body (`null` when empty or not JSON).
    pub body: Value,
}

/// The AWS error type an answer's `x-amzn-ErrorType` header names (without its `:…` suffix).
pub fn error_type(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let v = headers.get("x-amzn-ErrorType")?.to_str().ok()?;
    Some(v.split(':').next().unwrap_or(v).to_owned())
}

/// Makes calls.
pub type Caller = Arc<dyn Fn(ApiCall) -> BoxFuture<'static, Result<ApiReply, String>> + Send + Sync>;

/// A refused call: AWS's error type and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The error type (`ResourceNotFoundException`, …).
    pub code: String,
    /// Its message.
    pub message: String,
}

/// The header value that routes a call to `service` (an unsigned credential scope; the console
/// token the caller adds is what admits the call when signatures are verified).
pub fn scope_header(service: Service, region: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=thingbox-simulator/20260101/{region}/{}/aws4_request, SignedHeaders=host, Signature=0",
        service.signing_name()
    )
}

/// The AWS API, through a caller.
#[derive(Clone)]
pub struct Api {
    caller: Caller,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Api")
    }
}

/// Percent-encodes a path segment.
pub use thingbox_model::names::encode_segment as seg;

impl Api {
    /// An API over `caller`.
    pub fn new(caller: Caller) -> Self {
        Self { caller }
    }

    /// Calls; a non-2xx answer is the [`ApiError`] it carries.
    pub async fn call(
        &self,
        service: Service,
        method: &'static str,
        path: String,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        self.send(ApiCall { service, method, path, body, headers: Vec::new(), bytes: None }).await
    }

    async fn send(&self, call: ApiCall) -> Result<Value, ApiError> {
        let reply =
            (self.caller)(call).await.map_err(|e| ApiError { code: "ConnectionError".into(), message: e })?;
        if (200..300).contains(&reply.status) {
            return Ok(reply.body);
        }
        Err(ApiError {
            code: reply.error_type.unwrap_or_else(|| format!("HTTP {}", reply.status)),
            message: reply.body.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
        })
    }

    /// Like [`call`](Self::call), with "already exists" taken as done.
    pub async fn ensure(&self, method: &'static str, path: String, body: Value) -> Result<(), ApiError> {
        match self.call(Service::Iot, method, path, Some(body)).await {
            Ok(_) => Ok(()),
            Err(e) if e.code == "ResourceAlreadyExistsException" => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// CreatePolicy, unless it exists.
    pub async fn ensure_policy(&self, name: &str, document: &Value) -> Result<(), ApiError> {
        let body = json!({"policyDocument": document.to_string()});
        self.ensure("POST", format!("/policies/{}", seg(name)), body).await
    }

    /// CreateThingType, unless it exists.
    pub async fn ensure_thing_type(&self, name: &str) -> Result<(), ApiError> {
        self.ensure("POST", format!("/thing-types/{}", seg(name)), json!({})).await
    }

    /// CreateThingGroup, unless it exists.
    pub async fn ensure_group(&self, name: &str) -> Result<(), ApiError> {
        self.ensure("POST", format!("/thing-groups/{}", seg(name)), json!({})).await
    }

    /// CreateThing (an existing thing is kept as it is).
    pub async fn ensure_thing(
        &self,
        name: &str,
        thing_type: Option<&str>,
        attributes: &Value,
    ) -> Result<(), ApiError> {
        let mut body = json!({"attributePayload": {"attributes": attributes}});
        if let Some(t) = thing_type {
            body["thingTypeName"] = json!(t);
        }
        self.ensure("POST", format!("/things/{}", seg(name)), body).await
    }

    /// AddThingToThingGroup.
    pub async fn add_to_group(&self, thing: &str, group: &str) -> Result<(), ApiError> {
        let body = json!({"thingGroupName": group, "thingName": thing});
        self.call(Service::Iot, "PUT", "/thing-groups/addThingToThingGroup".into(), Some(body))
            .await
            .map(drop)
    }

    /// CreateCertificateFromCsr, active: (certificate id, ARN, PEM).
    pub async fn certificate_from_csr(&self, csr_pem: &str) -> Result<(String, String, String), ApiError> {
        let body = json!({"certificateSigningRequest": csr_pem});
        let v = self.call(Service::Iot, "POST", "/certificates?setAsActive=true".into(), Some(body)).await?;
        let get = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        Ok((get("certificateId"), get("certificateArn"), get("certificatePem")))
    }

    /// DescribeCertificate's status (`ACTIVE`, `REVOKED`, …), `None` when it does not exist.
    pub async fn certificate_status(&self, id: &str) -> Result<Option<(String, String)>, ApiError> {
        match self.call(Service::Iot, "GET", format!("/certificates/{}", seg(id)), None).await {
            Ok(v) => {
                let d = &v["certificateDescription"];
                let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                Ok(Some((s("status"), s("certificateArn"))))
            }
            Err(e) if e.code == "ResourceNotFoundException" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// AttachPolicy to a certificate, and AttachThingPrincipal.
    pub async fn attach(&self, thing: &str, policy: &str, cert_arn: &str) -> Result<(), ApiError> {
        let target = json!({"target": cert_arn});
        self.call(Service::Iot, "PUT", format!("/target-policies/{}", seg(policy)), Some(target)).await?;
        self.send(ApiCall {
            service: Service::Iot,
            method: "PUT",
            path: format!("/things/{}/principals", seg(thing)),
            body: None,
            headers: vec![("x-amzn-principal", cert_arn.to_owned())],
            bytes: None,
        })
        .await
        .map(drop)
    }

    /// UpdateCertificate to `status`.
    pub async fn set_certificate_status(&self, id: &str, status: &str) -> Result<(), ApiError> {
        let path = format!("/certificates/{}?newStatus={status}", seg(id));
        self.call(Service::Iot, "PUT", path, None).await.map(drop)
    }

    /// UpdateThingShadow with desired state.
    pub async fn set_desired(
        &self,
        thing: &str,
        shadow: Option<&str>,
        state: &Value,
    ) -> Result<(), ApiError> {
        let mut path = format!("/things/{}/shadow", seg(thing));
        if let Some(n) = shadow {
            path.push_str(&format!("?name={}", seg(n)));
        }
        let body = json!({"state": {"desired": state}});
        self.call(Service::IotData, "POST", path, Some(body)).await.map(drop)
    }

    /// A thing's or a thing group's ARN.
    pub async fn arn_of(&self, target: &str) -> Result<String, ApiError> {
        let (path, key) = match target.split_once(':') {
            Some(("group", name)) => (format!("/thing-groups/{}", seg(name)), "thingGroupArn"),
            Some(("thing", name)) => (format!("/things/{}", seg(name)), "thingArn"),
            _ => {
                return Err(ApiError {
                    code: "InvalidRequestException".into(),
                    message: format!("target '{target}'"),
                });
            }
        };
        let v = self.call(Service::Iot, "GET", path, None).await?;
        Ok(v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned())
    }

    /// CreateJob.
    pub async fn create_job(
        &self,
        id: &str,
        targets: Vec<String>,
        document: &Value,
        per_minute: Option<u32>,
    ) -> Result<(), ApiError> {
        let document = match document {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut body = json!({"targets": targets, "document": document});
        if let Some(m) = per_minute {
            body["jobExecutionsRolloutConfig"] = json!({"maximumPerMinute": m});
        }
        self.call(Service::Iot, "PUT", format!("/jobs/{}", seg(id)), Some(body)).await.map(drop)
    }

    /// Stores an OTA file devices download through job documents' presigned links (the
    /// console's upload).
    pub async fn put_file(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<(), ApiError> {
        let path = format!(
            "/console/api/ota-files/{}/{}",
            seg(bucket),
            key.split('/').map(seg).collect::<Vec<_>>().join("/")
        );
        self.send(ApiCall {
            service: Service::Iot,
            method: "PUT",
            path,
            body: None,
            headers: Vec::new(),
            bytes: Some(bytes),
        })
        .await
        .map(drop)
    }

    /// CreateTopicRule.
    pub async fn create_rule(&self, name: &str, sql: &str, actions: &Value) -> Result<(), ApiError> {
        let body =
            json!({"sql": sql, "actions": actions, "awsIotSqlVersion": "2016-03-23", "ruleDisabled": false});
        self.call(Service::Iot, "POST", format!("/rules/{}", seg(name)), Some(body)).await.map(drop)
    }
}

/// A caller over HTTP to a Thingbox at `base` (`http://127.0.0.1:4580`), admitted by its console
/// token, for `thingbox simulate`.
pub fn remote(base: String, token: String, region: String) -> Caller {
    // Plain HTTP to the Thingbox; the TLS set-up only satisfies the client's builder.
    let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60));
    if let Some(tls) = crate::rules::actions::system_tls_config() {
        builder = builder.use_preconfigured_tls(tls);
    }
    let client = builder.build().unwrap_or_default();
    Arc::new(move |call: ApiCall| {
        let (client, base, token, region) = (client.clone(), base.clone(), token.clone(), region.clone());
        Box::pin(async move {
            let method = reqwest::Method::from_bytes(call.method.as_bytes()).map_err(|e| e.to_string())?;
            let mut req = client
                .request(method, format!("{base}{}", call.path))
                .header(thingbox_api::console::TOKEN_HEADER, token)
                .header("authorization", scope_header(call.service, &region));
            for (k, v) in call.headers {
                req = req.header(k, v);
            }
            if let Some(b) = call.bytes {
                req = req.header("content-type", "application/octet-stream").body(b);
            } else if let Some(b) = call.body {
                req = req.header("content-type", "application/json").body(b.to_string());
            }
            let res = req.send().await.map_err(|e| format!("{base}: {e}"))?;
            let status = res.status().as_u16();
            let error_type = error_type(res.headers());
            let bytes = res.bytes().await.map_err(|e| e.to_string())?;
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Ok(ApiReply { status, error_type, body })
        })
    })
}
