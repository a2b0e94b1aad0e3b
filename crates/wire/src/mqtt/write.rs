//! Replies in the connection's protocol: CONNACK, PUBLISH, PUBACK, SUBACK, UNSUBACK, PINGRESP and
//! the server's DISCONNECT (MQTT 5 only), written with rumqttc's `mqttbytes` codecs.

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::QoS as V5QoS;
use rumqttc::v5::mqttbytes::v5;

use super::{MAX_FRAME, Properties, Proto, ServerDisconnect};

/// Why a CONNECT is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Client id not acceptable.
    BadClientId,
    /// Not authorized.
    NotAuthorized,
    /// Server unavailable.
    ServerUnavailable,
    /// CONNECTs too fast for this client id (strict-AWS mode).
    ConnectionRateExceeded,
}

/// How a QoS 1 PUBLISH is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Accepted.
    Success,
    /// Denied by policy (MQTT 5: 0x87).
    NotAuthorized,
    /// Over a quota (MQTT 5: 0x97).
    QuotaExceeded,
}

/// Writes CONNACK. `refused` = `None` accepts.
pub fn connack(
    proto: Proto,
    session_present: bool,
    refused: Option<Refusal>,
    assigned_client_id: Option<String>,
    buf: &mut BytesMut,
) {
    let result = match proto {
        Proto::V4 => v4::ConnAck {
            session_present,
            code: match refused {
                None => v4::ConnectReturnCode::Success,
                Some(Refusal::BadClientId) => v4::ConnectReturnCode::BadClientId,
                Some(Refusal::NotAuthorized) => v4::ConnectReturnCode::NotAuthorized,
                Some(Refusal::ServerUnavailable | Refusal::ConnectionRateExceeded) => {
                    v4::ConnectReturnCode::ServiceUnavailable
                }
            },
        }
        .write(buf)
        .is_ok(),
        Proto::V5 => {
            let props = v5::ConnAckProperties {
                session_expiry_interval: None,
                receive_max: Some(100),
                max_qos: Some(1),
                retain_available: Some(1),
                max_packet_size: Some(MAX_FRAME as u32),
                assigned_client_identifier: assigned_client_id,
                topic_alias_max: Some(8),
                reason_string: None,
                user_properties: Vec::new(),
                wildcard_subscription_available: Some(1),
                subscription_identifiers_available: Some(0),
                shared_subscription_available: Some(0),
                server_keep_alive: None,
                response_information: None,
                server_reference: None,
                authentication_method: None,
                authentication_data: None,
            };
            v5::ConnAck {
                session_present,
                code: match refused {
                    None => v5::ConnectReturnCode::Success,
                    Some(Refusal::BadClientId) => v5::ConnectReturnCode::ClientIdentifierNotValid,
                    Some(Refusal::NotAuthorized) => v5::ConnectReturnCode::NotAuthorized,
                    Some(Refusal::ServerUnavailable) => v5::ConnectReturnCode::ServerUnavailable,
                    Some(Refusal::ConnectionRateExceeded) => v5::ConnectReturnCode::ConnectionRateExceeded,
                },
                properties: Some(props),
            }
            .write(buf)
            .is_ok()
        }
    };
    debug_assert!(result);
}

fn v5_props(p: &Properties) -> Option<v5::PublishProperties> {
    if p.is_empty() {
        return None;
    }
    Some(v5::PublishProperties {
        payload_format_indicator: p.payload_format_indicator,
        message_expiry_interval: p.message_expiry_interval,
        topic_alias: None,
        response_topic: p.response_topic.clone(),
        correlation_data: p.correlation_data.clone(),
        user_properties: p.user_properties.clone(),
        subscription_identifiers: Vec::new(),
        content_type: p.content_type.clone(),
    })
}

/// A PUBLISH to write.
#[derive(Debug, Clone, Copy)]
pub struct PublishOut<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Payload.
    pub payload: &'a Bytes,
    /// MQTT 5 properties (not written for MQTT 3.1.1).
    pub properties: &'a Properties,
    /// Delivered QoS (0 or 1).
    pub qos: u8,
    /// RETAIN flag.
    pub retain: bool,
}

/// Writes a PUBLISH (`pkid` is ignored at QoS 0).
pub fn publish(proto: Proto, d: PublishOut<'_>, pkid: u16, dup: bool, buf: &mut BytesMut) {
    let qos = if d.qos == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce };
    let qos_v5 = if d.qos == 0 { V5QoS::AtMostOnce } else { V5QoS::AtLeastOnce };
    let result = match proto {
        Proto::V4 => v4::Publish {
            dup,
            qos,
            retain: d.retain,
            topic: d.topic.to_owned(),
            pkid: if d.qos == 0 { 0 } else { pkid },
            payload: d.payload.clone(),
        }
        .write(buf)
        .is_ok(),
        Proto::V5 => v5::Publish {
            dup,
            qos: qos_v5,
            retain: d.retain,
            topic: Bytes::copy_from_slice(d.topic.as_bytes()),
            pkid: if d.qos == 0 { 0 } else { pkid },
            payload: d.payload.clone(),
            properties: v5_props(d.properties),
        }
        .write(buf)
        .is_ok(),
    };
    debug_assert!(result);
}

/// Writes PUBACK (`not_authorized` only changes the v5 reason code).
pub fn puback(proto: Proto, pkid: u16, ack: Ack, buf: &mut BytesMut) {
    let result = match proto {
        Proto::V4 => v4::PubAck { pkid }.write(buf).is_ok(),
        Proto::V5 => v5::PubAck {
            pkid,
            reason: match ack {
                Ack::Success => v5::PubAckReason::Success,
                Ack::NotAuthorized => v5::PubAckReason::NotAuthorized,
                Ack::QuotaExceeded => v5::PubAckReason::QuotaExceeded,
            },
            properties: None,
        }
        .write(buf)
        .is_ok(),
    };
    debug_assert!(result);
}

/// The outcome of one filter in a SUBACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubResult {
    /// Granted at this QoS.
    Granted(u8),
    /// The filter is malformed.
    InvalidFilter,
    /// Not authorized.
    NotAuthorized,
    /// Over a limit.
    Quota,
}

/// Writes SUBACK.
pub fn suback(proto: Proto, pkid: u16, results: &[SubResult], buf: &mut BytesMut) {
    let q = |n: u8| if n == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce };
    let q5 = |n: u8| if n == 0 { V5QoS::AtMostOnce } else { V5QoS::AtLeastOnce };
    let result = match proto {
        Proto::V4 => v4::SubAck {
            pkid,
            return_codes: results
                .iter()
                .map(|r| match r {
                    SubResult::Granted(n) => v4::SubscribeReasonCode::Success(q(*n)),
                    _ => v4::SubscribeReasonCode::Failure,
                })
                .collect(),
        }
        .write(buf)
        .is_ok(),
        Proto::V5 => v5::SubAck {
            pkid,
            return_codes: results
                .iter()
                .map(|r| match r {
                    SubResult::Granted(n) => v5::SubscribeReasonCode::Success(q5(*n)),
                    SubResult::InvalidFilter => v5::SubscribeReasonCode::TopicFilterInvalid,
                    SubResult::NotAuthorized => v5::SubscribeReasonCode::NotAuthorized,
                    SubResult::Quota => v5::SubscribeReasonCode::QuotaExceeded,
                })
                .collect(),
            properties: None,
        }
        .write(buf)
        .is_ok(),
    };
    debug_assert!(result);
}

/// Writes UNSUBACK for `n` filters.
pub fn unsuback(proto: Proto, pkid: u16, n: usize, buf: &mut BytesMut) {
    let result = match proto {
        Proto::V4 => v4::UnsubAck { pkid }.write(buf).is_ok(),
        Proto::V5 => v5::UnsubAck { pkid, reasons: vec![v5::UnsubAckReason::Success; n], properties: None }
            .write(buf)
            .is_ok(),
    };
    debug_assert!(result);
}

/// Writes PINGRESP.
pub fn pingresp(proto: Proto, buf: &mut BytesMut) {
    let result = match proto {
        Proto::V4 => v4::PingResp.write(buf).is_ok(),
        Proto::V5 => v5::PingResp::write(buf).is_ok(),
    };
    debug_assert!(result);
}

/// Writes a server DISCONNECT (v5); nothing for v4.
pub fn disconnect(proto: Proto, reason: ServerDisconnect, buf: &mut BytesMut) {
    if proto == Proto::V4 {
        return;
    }
    let reason_code = match reason {
        ServerDisconnect::SessionTakenOver => v5::DisconnectReasonCode::SessionTakenOver,
        ServerDisconnect::ShuttingDown => v5::DisconnectReasonCode::ServerShuttingDown,
        ServerDisconnect::NotAuthorized => v5::DisconnectReasonCode::NotAuthorized,
        ServerDisconnect::ProtocolError => v5::DisconnectReasonCode::ProtocolError,
        ServerDisconnect::PacketTooLarge => v5::DisconnectReasonCode::PacketTooLarge,
        ServerDisconnect::KeepAliveTimeout => v5::DisconnectReasonCode::KeepAliveTimeout,
        ServerDisconnect::TopicNameInvalid => v5::DisconnectReasonCode::TopicNameInvalid,
        ServerDisconnect::TopicAliasInvalid => v5::DisconnectReasonCode::TopicAliasInvalid,
        ServerDisconnect::SubscriptionIdsNotSupported => {
            v5::DisconnectReasonCode::SubscriptionIdentifiersNotSupported
        }
    };
    let result = v5::Disconnect { reason_code, properties: None }.write(buf).is_ok();
    debug_assert!(result);
}
