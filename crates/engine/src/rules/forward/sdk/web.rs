//! Forwarded actions whose endpoint is part of the action, not the forward target: `elasticsearch`
//! and `openSearch` PUT the rule's output as the document `<endpoint>/<index>/<type>/<id>`, signed
//! with SigV4 for the `es` service (AWS's domains check it; LocalStack and a local OpenSearch
//! ignore it), and `salesforce` POSTs it to the input stream's URL with the stream's token as a
//! bearer token. Both want a JSON output, as on AWS.

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials as _;
use serde_json::Value;

use super::{Forwarder, s};

/// How much of an error answer's body a failure shows.
const ERROR_BODY: usize = 300;

/// `<endpoint>/<index>/<type>/<id>`, each segment percent-encoded.
fn document_url(body: &Value) -> Result<reqwest::Url, String> {
    let endpoint = s(body, "endpoint");
    let mut url = reqwest::Url::parse(endpoint)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| format!("endpoint '{endpoint}' is not an http(s) URL"))?;
    let segments = [s(body, "index"), s(body, "type"), s(body, "id")];
    if let Some(empty) = ["index", "type", "id"].iter().zip(segments).find(|(_, v)| v.is_empty()) {
        return Err(format!("{} is empty", empty.0));
    }
    url.path_segments_mut()
        .map_err(|()| format!("endpoint '{endpoint}' cannot have a path"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

fn json_output(kind: &str, payload: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<serde::de::IgnoredAny>(payload)
        .map(drop)
        .map_err(|_| format!("the {kind} action sends JSON, and the rule's output is not JSON"))
}

/// What a refused request shows: the status and the start of the answer.
async fn refused(res: reqwest::Response) -> String {
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    let text: String = text.chars().take(ERROR_BODY).collect();
    format!("HTTP {status}: {}", text.trim())
}

fn unreachable(e: &reqwest::Error) -> String {
    if e.is_timeout() { "no answer in time".into() } else { format!("could not reach the endpoint: {e}") }
}

impl Forwarder {
    /// SigV4 headers for `service` over this request, with the forwarder's credentials.
    async fn sign(
        &self,
        service: &str,
        method: &str,
        url: &reqwest::Url,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, String> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let provider = self
            .config()
            .await
            .credentials_provider()
            .ok_or("no AWS credentials to sign the request with")?;
        let credentials =
            provider.provide_credentials().await.map_err(|e| format!("no AWS credentials: {e}"))?;
        let identity = credentials.into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing failed: {e}"))?
            .into();
        let request =
            SignableRequest::new(method, url.as_str(), headers.iter().copied(), SignableBody::Bytes(body))
                .map_err(|e| format!("signing failed: {e}"))?;
        let (instructions, _) =
            sign(request, &params).map_err(|e| format!("signing failed: {e}"))?.into_parts();
        Ok(instructions.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    pub(super) async fn search_document(
        &self,
        kind: &str,
        body: &Value,
        payload: &[u8],
    ) -> Result<String, String> {
        json_output(kind, payload)?;
        let url = document_url(body)?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let host = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        let headers = [("content-type", "application/json"), ("host", host.as_str())];
        let signed = self.sign("es", "PUT", &url, &headers, payload).await?;
        let mut req =
            self.http.put(url.clone()).header("content-type", "application/json").body(payload.to_vec());
        for (k, v) in signed {
            req = req.header(k, v);
        }
        let res = req.send().await.map_err(|e| unreachable(&e))?;
        if !res.status().is_success() {
            return Err(refused(res).await);
        }
        let status = res.status();
        let answer: Value =
            serde_json::from_slice(&res.bytes().await.unwrap_or_default()).unwrap_or(Value::Null);
        let result = answer.get("result").and_then(Value::as_str).unwrap_or("stored");
        Ok(format!("PUT {url}: {status}, {result}"))
    }

    pub(super) async fn salesforce(&self, body: &Value, payload: &[u8]) -> Result<String, String> {
        json_output("salesforce", payload)?;
        let url = s(body, "url");
        let res = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .bearer_auth(s(body, "token"))
            .body(payload.to_vec())
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        if !res.status().is_success() {
            return Err(refused(res).await);
        }
        Ok(format!("POST {url}: {}", res.status()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn documents_are_put_at_index_type_id() {
        let url = document_url(&json!({"endpoint": "https://search-d.us-east-1.es.amazonaws.com/",
            "index": "sensors", "type": "_doc", "id": "a b/c"}))
        .unwrap();
        assert_eq!(url.as_str(), "https://search-d.us-east-1.es.amazonaws.com/sensors/_doc/a%20b%2Fc");
        let url = document_url(&json!({"endpoint": "http://localhost:4566/opensearch/us-east-1/d",
            "index": "i", "type": "t", "id": "1"}))
        .unwrap();
        assert_eq!(url.as_str(), "http://localhost:4566/opensearch/us-east-1/d/i/t/1");
        assert!(
            document_url(
                &json!({"endpoint": "search-d.es.amazonaws.com", "index": "i", "type": "t", "id": "1"})
            )
            .unwrap_err()
            .contains("not an http(s) URL")
        );
        assert_eq!(
            document_url(&json!({"endpoint": "https://x", "index": "i", "type": "t", "id": ""})).unwrap_err(),
            "id is empty"
        );
        assert!(json_output("openSearch", b"{\"a\":1}").is_ok());
        assert!(json_output("openSearch", b"\x01\x02").is_err());
    }
}
