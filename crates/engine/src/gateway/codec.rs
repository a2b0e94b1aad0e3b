//! MQTT 3.1.1 and MQTT 5 on one port: the protocol level is read from the CONNECT packet, and
//! rumqttc's `mqttbytes` codecs (v4 and v5) read and write the packets. This module turns both into
//! one [`Inbound`] vocabulary and writes replies in the connection's protocol.

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4;
use rumqttc::mqttbytes::{Error as CodecError, QoS};
use rumqttc::v5::mqttbytes::v5;
use rumqttc::v5::mqttbytes::{Error as V5Error, QoS as V5QoS};

use crate::broker::{Delivery, Properties};

/// Largest frame read (AWS's 128 KB payload limit is checked separately, with its own error).
pub const MAX_FRAME: usize = 512 * 1024;

/// The protocol of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// MQTT 3.1.1 (level 4).
    V4,
    /// MQTT 5 (level 5).
    V5,
}

impl Proto {
    /// Its name for people.
    pub const fn name(self) -> &'static str {
        match self {
            Self::V4 => "MQTT 3.1.1",
            Self::V5 => "MQTT 5",
        }
    }
}

/// A will message from CONNECT.
#[derive(Debug, Clone)]
pub struct Will {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Bytes,
    /// QoS.
    pub qos: u8,
    /// Retain.
    pub retain: bool,
    /// MQTT 5 properties.
    pub properties: Properties,
}

/// What CONNECT asked for.
#[derive(Debug, Clone)]
pub struct ConnectInfo {
    /// Protocol.
    pub proto: Proto,
    /// Client id (may be empty).
    pub client_id: String,
    /// Clean session / clean start.
    pub clean: bool,
    /// Keep-alive in seconds.
    pub keep_alive: u16,
    /// Will.
    pub will: Option<Will>,
    /// User name (the AWS Device SDK sends metrics here; ignored).
    pub username: Option<String>,
    /// MQTT 5 session expiry interval.
    pub session_expiry: Option<u32>,
    /// MQTT 5 receive maximum of the client.
    pub receive_maximum: Option<u16>,
}

/// Subscription request for one filter.
#[derive(Debug, Clone)]
pub struct FilterRequest {
    /// Filter.
    pub filter: String,
    /// Requested QoS (0, 1 or 2).
    pub qos: u8,
    /// MQTT 5 no-local.
    pub no_local: bool,
    /// MQTT 5 retain-as-published.
    pub retain_as_published: bool,
}

/// A packet from a client, in either protocol.
#[derive(Debug, Clone)]
pub enum Inbound {
    /// CONNECT.
    Connect(ConnectInfo),
    /// PUBLISH.
    Publish {
        /// Topic (empty when a v5 topic alias stands for it).
        topic: String,
        /// Payload.
        payload: Bytes,
        /// QoS (0, 1 or 2).
        qos: u8,
        /// Retain.
        retain: bool,
        /// Packet id (QoS > 0).
        pkid: u16,
        /// MQTT 5 properties.
        properties: Properties,
        /// MQTT 5 topic alias.
        topic_alias: Option<u16>,
    },
    /// PUBACK.
    PubAck(u16),
    /// SUBSCRIBE.
    Subscribe {
        /// Packet id.
        pkid: u16,
        /// Filters.
        filters: Vec<FilterRequest>,
    },
    /// UNSUBSCRIBE.
    Unsubscribe {
        /// Packet id.
        pkid: u16,
        /// Filters.
        filters: Vec<String>,
    },
    /// PINGREQ.
    PingReq,
    /// DISCONNECT (`with_will`: MQTT 5 reason 0x04).
    Disconnect {
        /// Publish the will anyway.
        with_will: bool,
    },
    /// A packet a client must not send (CONNACK, SUBACK, QoS 2 flow, …).
    Unexpected(&'static str),
}

/// Reads the protocol level of a CONNECT at the start of `buf`: `Ok(None)` until enough bytes have
/// arrived, `Err` for anything that is not an MQTT 3.1.1 or 5 CONNECT.
pub fn sniff(buf: &[u8]) -> Result<Option<Proto>, String> {
    let Some(&first) = buf.first() else { return Ok(None) };
    if first >> 4 != 1 {
        return Err(format!("the first packet must be CONNECT, not packet type {}", first >> 4));
    }
    // Skip the remaining-length varint.
    let mut i = 1;
    loop {
        let Some(&b) = buf.get(i) else { return Ok(None) };
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        if i > 4 {
            return Err("malformed remaining length".into());
        }
    }
    let Some(header) = buf.get(i..i + 7) else { return Ok(None) };
    if &header[..6] != b"\x00\x04MQTT" {
        return Err("unsupported protocol name (MQTT 3.1 'MQIsdp' is not supported; use 3.1.1 or 5)".into());
    }
    match header[6] {
        4 => Ok(Some(Proto::V4)),
        5 => Ok(Some(Proto::V5)),
        level => Err(format!("unsupported MQTT protocol level {level}; use 3.1.1 (4) or 5")),
    }
}

fn qos_u8(q: QoS) -> u8 {
    q as u8
}

fn qos5(q: V5QoS) -> u8 {
    q as u8
}

/// A packet that could not be decoded, or broke a rule of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The DISCONNECT reason (MQTT 5): packet too large, protocol error, or a specific one.
    pub reason: ServerDisconnect,
    /// What the codec said.
    pub detail: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

fn props_from_v5(p: Option<v5::PublishProperties>) -> (Properties, Option<u16>) {
    match p {
        None => (Properties::default(), None),
        Some(p) => (
            Properties {
                payload_format_indicator: p.payload_format_indicator,
                message_expiry_interval: p.message_expiry_interval,
                response_topic: p.response_topic,
                correlation_data: p.correlation_data,
                user_properties: p.user_properties,
                content_type: p.content_type,
            },
            p.topic_alias,
        ),
    }
}

fn topic_string(b: Bytes) -> Result<String, DecodeError> {
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError {
        reason: ServerDisconnect::ProtocolError,
        detail: "topic is not UTF-8".into(),
    })
}

/// Reads one packet; `Ok(None)` when more bytes are needed.
pub fn read(proto: Proto, buf: &mut BytesMut) -> Result<Option<Inbound>, DecodeError> {
    super::strict::check_frame(proto, buf)
        .map_err(|v| DecodeError { reason: v.reason, detail: v.detail.to_owned() })?;
    let reason = |too_large: bool| {
        if too_large { ServerDisconnect::PacketTooLarge } else { ServerDisconnect::ProtocolError }
    };
    match proto {
        Proto::V4 => match v4::Packet::read(buf, MAX_FRAME) {
            Ok(p) => Ok(Some(from_v4(p))),
            Err(CodecError::InsufficientBytes(_)) => Ok(None),
            Err(e) => Err(DecodeError {
                reason: reason(matches!(e, CodecError::PayloadSizeLimitExceeded(_))),
                detail: e.to_string(),
            }),
        },
        Proto::V5 => match v5::Packet::read(buf, Some(MAX_FRAME as u32)) {
            Ok(p) => from_v5(p).map(Some),
            Err(V5Error::InsufficientBytes(_)) => Ok(None),
            Err(e) => Err(DecodeError {
                reason: reason(matches!(e, V5Error::PayloadSizeLimitExceeded { .. })),
                detail: e.to_string(),
            }),
        },
    }
}

fn from_v4(p: v4::Packet) -> Inbound {
    match p {
        v4::Packet::Connect(c) => Inbound::Connect(ConnectInfo {
            proto: Proto::V4,
            client_id: c.client_id,
            clean: c.clean_session,
            keep_alive: c.keep_alive,
            will: c.last_will.map(|w| Will {
                topic: w.topic,
                payload: w.message,
                qos: qos_u8(w.qos),
                retain: w.retain,
                properties: Properties::default(),
            }),
            username: c.login.map(|l| l.username),
            session_expiry: None,
            receive_maximum: None,
        }),
        v4::Packet::Publish(p) => Inbound::Publish {
            topic: p.topic,
            payload: p.payload,
            qos: qos_u8(p.qos),
            retain: p.retain,
            pkid: p.pkid,
            properties: Properties::default(),
            topic_alias: None,
        },
        v4::Packet::PubAck(a) => Inbound::PubAck(a.pkid),
        v4::Packet::Subscribe(s) => Inbound::Subscribe {
            pkid: s.pkid,
            filters: s
                .filters
                .into_iter()
                .map(|f| FilterRequest {
                    filter: f.path,
                    qos: qos_u8(f.qos),
                    no_local: false,
                    retain_as_published: false,
                })
                .collect(),
        },
        v4::Packet::Unsubscribe(u) => Inbound::Unsubscribe { pkid: u.pkid, filters: u.topics },
        v4::Packet::PingReq => Inbound::PingReq,
        v4::Packet::Disconnect => Inbound::Disconnect { with_will: false },
        v4::Packet::ConnAck(_) => Inbound::Unexpected("CONNACK"),
        v4::Packet::PubRec(_) | v4::Packet::PubRel(_) | v4::Packet::PubComp(_) => {
            Inbound::Unexpected("QoS 2 flow")
        }
        v4::Packet::SubAck(_) => Inbound::Unexpected("SUBACK"),
        v4::Packet::UnsubAck(_) => Inbound::Unexpected("UNSUBACK"),
        v4::Packet::PingResp => Inbound::Unexpected("PINGRESP"),
    }
}

fn from_v5(p: v5::Packet) -> Result<Inbound, DecodeError> {
    Ok(match p {
        v5::Packet::Connect(c, will, login) => {
            let props = c.properties.unwrap_or_default();
            Inbound::Connect(ConnectInfo {
                proto: Proto::V5,
                client_id: c.client_id,
                clean: c.clean_start,
                keep_alive: c.keep_alive,
                will: match will {
                    Some(w) => Some(Will {
                        topic: topic_string(w.topic)?,
                        payload: w.message,
                        qos: qos5(w.qos),
                        retain: w.retain,
                        properties: w
                            .properties
                            .map(|wp| Properties {
                                payload_format_indicator: wp.payload_format_indicator,
                                message_expiry_interval: wp.message_expiry_interval,
                                response_topic: wp.response_topic,
                                correlation_data: wp.correlation_data,
                                user_properties: wp.user_properties,
                                content_type: wp.content_type,
                            })
                            .unwrap_or_default(),
                    }),
                    None => None,
                },
                username: login.map(|l| l.username),
                session_expiry: props.session_expiry_interval,
                receive_maximum: props.receive_maximum,
            })
        }
        v5::Packet::Publish(p) => {
            let (properties, topic_alias) = props_from_v5(p.properties);
            Inbound::Publish {
                topic: topic_string(p.topic)?,
                payload: p.payload,
                qos: qos5(p.qos),
                retain: p.retain,
                pkid: p.pkid,
                properties,
                topic_alias,
            }
        }
        v5::Packet::PubAck(a) => Inbound::PubAck(a.pkid),
        v5::Packet::Subscribe(s) => Inbound::Subscribe {
            pkid: s.pkid,
            filters: s
                .filters
                .into_iter()
                .map(|f| FilterRequest {
                    filter: f.path,
                    qos: qos5(f.qos),
                    no_local: f.nolocal,
                    retain_as_published: f.preserve_retain,
                })
                .collect(),
        },
        v5::Packet::Unsubscribe(u) => Inbound::Unsubscribe { pkid: u.pkid, filters: u.filters },
        v5::Packet::PingReq(_) => Inbound::PingReq,
        v5::Packet::Disconnect(d) => Inbound::Disconnect {
            with_will: d.reason_code == v5::DisconnectReasonCode::DisconnectWithWillMessage,
        },
        v5::Packet::Auth(_) => Inbound::Unexpected("AUTH"),
        v5::Packet::ConnAck(_) => Inbound::Unexpected("CONNACK"),
        v5::Packet::PubRec(_) | v5::Packet::PubRel(_) | v5::Packet::PubComp(_) => {
            Inbound::Unexpected("QoS 2 flow")
        }
        v5::Packet::SubAck(_) => Inbound::Unexpected("SUBACK"),
        v5::Packet::UnsubAck(_) => Inbound::Unexpected("UNSUBACK"),
        v5::Packet::PingResp(_) => Inbound::Unexpected("PINGRESP"),
    })
}

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

/// Writes a PUBLISH for a delivery.
pub fn publish(proto: Proto, d: &Delivery, pkid: u16, dup: bool, buf: &mut BytesMut) {
    let qos = if d.qos == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce };
    let qos_v5 = if d.qos == 0 { V5QoS::AtMostOnce } else { V5QoS::AtLeastOnce };
    let m = &d.message;
    let result = match proto {
        Proto::V4 => v4::Publish {
            dup,
            qos,
            retain: d.retain,
            topic: m.topic.clone(),
            pkid: if d.qos == 0 { 0 } else { pkid },
            payload: m.payload.clone(),
        }
        .write(buf)
        .is_ok(),
        Proto::V5 => v5::Publish {
            dup,
            qos: qos_v5,
            retain: d.retain,
            topic: Bytes::from(m.topic.clone()),
            pkid: if d.qos == 0 { 0 } else { pkid },
            payload: m.payload.clone(),
            properties: v5_props(&m.properties),
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

/// Server-side DISCONNECT reasons (MQTT 5 only; 3.1.1 just closes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerDisconnect {
    /// 0x8E session taken over.
    SessionTakenOver,
    /// 0x8B server shutting down.
    ShuttingDown,
    /// 0x87 not authorized.
    NotAuthorized,
    /// 0x82 protocol error.
    ProtocolError,
    /// 0x95 packet too large.
    PacketTooLarge,
    /// 0x8D keep alive timeout.
    KeepAliveTimeout,
    /// 0x90 topic name invalid.
    TopicNameInvalid,
    /// 0x94 topic alias invalid.
    TopicAliasInvalid,
    /// 0xA1 subscription identifiers not supported.
    SubscriptionIdsNotSupported,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_levels() {
        let mut b = BytesMut::new();
        v4::Connect::new("c").write(&mut b).unwrap();
        assert_eq!(sniff(&b), Ok(Some(Proto::V4)));
        assert_eq!(sniff(&b[..5]), Ok(None));
        let mut b5 = BytesMut::new();
        v5::Connect { keep_alive: 30, client_id: "c".into(), clean_start: true, properties: None }
            .write(&None, &None, &mut b5)
            .unwrap();
        assert_eq!(sniff(&b5), Ok(Some(Proto::V5)));
        assert!(sniff(&[0x30, 0x00]).is_err());
        assert!(sniff(b"\x10\x0c\x00\x06MQIsdp\x03").is_err());
    }
}
