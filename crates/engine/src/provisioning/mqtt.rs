//! The fleet-provisioning MQTT API: `$aws/certificates/create/{json|cbor}`,
//! `$aws/certificates/create-from-csr/{json|cbor}` and
//! `$aws/provisioning-templates/{name}/provision/{json|cbor}`, answered on the request topic plus
//! `/accepted` or `/rejected`, in the request's format, to the requesting connection alone and
//! only if it subscribed (the answer can hold a private key, and claim certificates are shared).
//!
//! Each request runs in its own task (issuing an RSA key takes a while), owned by the serving loop.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{ProvisioningService, Rejection, now};
use crate::broker::{InternalClient, Message, Principal};

/// A request's payload format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `json`
    Json,
    /// `cbor`
    Cbor,
}

impl Format {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "json" => Some(Self::Json),
            "cbor" => Some(Self::Cbor),
            _ => None,
        }
    }

    /// Decodes a request payload (an empty payload is an empty object).
    pub fn decode(self, payload: &[u8]) -> Result<Map<String, Value>, String> {
        if payload.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        let value: Value = match self {
            Self::Json => {
                serde_json::from_slice(payload).map_err(|e| format!("the payload is not JSON: {e}"))?
            }
            Self::Cbor => {
                ciborium::from_reader(payload).map_err(|e| format!("the payload is not CBOR: {e}"))?
            }
        };
        match value {
            Value::Object(m) => Ok(m),
            _ => Err("the payload must be an object".into()),
        }
    }

    /// Encodes a reply.
    pub fn encode(self, v: &Value) -> Vec<u8> {
        match self {
            Self::Json => v.to_string().into_bytes(),
            Self::Cbor => {
                let mut out = Vec::new();
                // Writing a `Value` into a Vec cannot fail.
                let _ = ciborium::into_writer(v, &mut out);
                out
            }
        }
    }
}

/// What a topic asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Request<'a> {
    CreateKeys,
    CreateFromCsr,
    Provision(&'a str),
}

/// The request a topic names, or `None` for any other topic (replies included).
fn request_of(topic: &str) -> Option<(Request<'_>, Format)> {
    if let Some(f) = topic.strip_prefix("$aws/certificates/create/") {
        return Format::parse(f).map(|f| (Request::CreateKeys, f));
    }
    if let Some(f) = topic.strip_prefix("$aws/certificates/create-from-csr/") {
        return Format::parse(f).map(|f| (Request::CreateFromCsr, f));
    }
    let rest = topic.strip_prefix("$aws/provisioning-templates/")?;
    let (name, f) = rest.split_once("/provision/")?;
    (!name.is_empty() && !name.contains('/')).then_some(())?;
    Format::parse(f).map(|f| (Request::Provision(name), f))
}

fn string_map(v: Option<&Value>) -> Result<BTreeMap<String, String>, Rejection> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(Rejection::new(
                    400,
                    "InvalidPayload",
                    format!("parameters.{k} must be a string, not {other}"),
                )),
            })
            .collect(),
        Some(_) => Err(Rejection::new(400, "InvalidPayload", "parameters must be an object of strings")),
    }
}

impl ProvisioningService {
    async fn answer(&self, msg: &Message, request: Request<'_>, format: Format) -> Result<Value, Rejection> {
        let body = format.decode(&msg.payload).map_err(|why| Rejection::new(400, "InvalidPayload", why))?;
        let now = now();
        match request {
            Request::CreateKeys => {
                let i = self.create_keys_and_certificate(now).await?;
                Ok(json!({
                    "certificateId": i.certificate_id,
                    "certificatePem": i.certificate_pem,
                    "privateKey": i.private_key,
                    "certificateOwnershipToken": i.token,
                }))
            }
            Request::CreateFromCsr => {
                let Some(csr) = body.get("certificateSigningRequest").and_then(Value::as_str) else {
                    return Err(Rejection::new(
                        400,
                        "InvalidPayload",
                        "certificateSigningRequest is missing: send {\"certificateSigningRequest\": \"<CSR PEM>\"}",
                    ));
                };
                let i = self.create_certificate_from_csr(csr, now).await?;
                Ok(json!({
                    "certificateOwnershipToken": i.token,
                    "certificateId": i.certificate_id,
                    "certificatePem": i.certificate_pem,
                }))
            }
            Request::Provision(template) => {
                let token = match body.get("certificateOwnershipToken") {
                    None | Some(Value::Null) => "",
                    Some(Value::String(s)) => s.as_str(),
                    Some(_) => {
                        return Err(Rejection::new(
                            400,
                            "InvalidPayload",
                            "certificateOwnershipToken must be a string",
                        ));
                    }
                };
                let parameters = string_map(body.get("parameters"))?;
                let claim = match &msg.principal {
                    Principal::Certificate(id) => Some(id.as_str()),
                    _ => None,
                };
                let client = msg.client_id.as_deref().unwrap_or_default();
                let (thing, config) =
                    self.register_thing(template, token, parameters, client, claim, now).await?;
                let mut out = Map::new();
                out.insert("deviceConfiguration".into(), json!(config));
                if let Some(t) = thing {
                    out.insert("thingName".into(), json!(t));
                }
                Ok(Value::Object(out))
            }
        }
    }

    /// Serves the fleet-provisioning topics until `stop`.
    pub async fn serve_mqtt(self: Arc<Self>, client: InternalClient, mut stop: watch::Receiver<bool>) {
        client.subscribe("$aws/certificates/create/+");
        client.subscribe("$aws/certificates/create-from-csr/+");
        client.subscribe("$aws/provisioning-templates/+/provision/+");
        let mut tasks = JoinSet::new();
        loop {
            while tasks.try_join_next().is_some() {}
            let msg = tokio::select! {
                m = client.recv() => m,
                _ = stop.wait_for(|s| *s) => break,
            };
            // A request published over HTTP (or by a service) has nobody to answer.
            let Some(client_id) = msg.client_id.clone() else { continue };
            let Some((_, format)) = request_of(&msg.topic) else { continue };
            let me = self.clone();
            tasks.spawn(async move {
                let Some((request, _)) = request_of(&msg.topic) else { return };
                let (suffix, reply) = match me.answer(&msg, request, format).await {
                    Ok(v) => ("accepted", v),
                    Err(r) => {
                        tracing::debug!(
                            client = client_id,
                            topic = msg.topic,
                            code = r.code,
                            why = r.message,
                            "provisioning request rejected"
                        );
                        ("rejected", r.to_json())
                    }
                };
                let topic = format!("{}/{suffix}", msg.topic);
                let out = Message::from_service("provisioning", topic, format.encode(&reply));
                me.broker.reply_to_subscriber(&client_id, out);
            });
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics() {
        let cases = [
            ("$aws/certificates/create/json", Some((Request::CreateKeys, Format::Json))),
            ("$aws/certificates/create/cbor", Some((Request::CreateKeys, Format::Cbor))),
            ("$aws/certificates/create/json/accepted", None),
            ("$aws/certificates/create-from-csr/json", Some((Request::CreateFromCsr, Format::Json))),
            (
                "$aws/provisioning-templates/fleet/provision/json",
                Some((Request::Provision("fleet"), Format::Json)),
            ),
            ("$aws/provisioning-templates/fleet/provision/json/rejected", None),
            ("$aws/provisioning-templates//provision/json", None),
            ("$aws/certificates/create/xml", None),
        ];
        for (topic, want) in cases {
            assert_eq!(request_of(topic), want, "{topic}");
        }
    }

    #[test]
    fn payloads_in_both_formats() {
        assert_eq!(Format::Json.decode(b"").unwrap(), Map::new());
        assert_eq!(Format::Json.decode(b"{}").unwrap(), Map::new());
        assert!(Format::Json.decode(b"[1]").unwrap_err().contains("must be an object"));
        assert!(Format::Json.decode(b"{").unwrap_err().contains("not JSON"));
        let v = json!({"certificateOwnershipToken": "t", "parameters": {"SerialNumber": "1"}});
        let round = Format::Cbor.decode(&Format::Cbor.encode(&v)).unwrap();
        assert_eq!(Value::Object(round), v);
        assert!(Format::Cbor.decode(&[0xff, 0x00]).is_err());
    }
}
