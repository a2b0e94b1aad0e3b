//! MQTT 3.1.1 and MQTT 5 on one port: the protocol level is read from the CONNECT packet, and
//! rumqttc's `mqttbytes` codecs (v4 and v5) read and write the packets. This module turns both into
//! one [`Inbound`] vocabulary (after [`strict`]'s checks of the rules those codecs leave out) and
//! [`write`]s replies in the connection's protocol.

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4;
use rumqttc::mqttbytes::{Error as CodecError, QoS};
use rumqttc::v5::mqttbytes::v5;
use rumqttc::v5::mqttbytes::{Error as V5Error, QoS as V5QoS};

mod strict;
mod write;

pub use self::strict::Violation;
pub use self::write::{
    Ack, PublishOut, Refusal, SubResult, connack, disconnect, pingresp, puback, publish, suback, unsuback,
};

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

/// MQTT 5 publish properties Thingbox carries end to end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// Payload format indicator (1 = UTF-8).
    pub payload_format_indicator: Option<u8>,
    /// Message expiry in seconds.
    pub message_expiry_interval: Option<u32>,
    /// Response topic.
    pub response_topic: Option<String>,
    /// Correlation data.
    pub correlation_data: Option<Bytes>,
    /// User properties, in order.
    pub user_properties: Vec<(String, String)>,
    /// Content type.
    pub content_type: Option<String>,
}

impl Properties {
    /// The bytes AWS meters besides topic and payload: user properties, response topic,
    /// correlation data and content type.
    pub fn metered_len(&self) -> usize {
        self.response_topic.as_ref().map_or(0, String::len)
            + self.correlation_data.as_ref().map_or(0, Bytes::len)
            + self.content_type.as_ref().map_or(0, String::len)
            + self.user_properties.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
    }

    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
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

/// Reads one packet; `Ok(None)` when more bytes are needed (and then nothing was consumed).
pub fn read(proto: Proto, buf: &mut BytesMut) -> Result<Option<Inbound>, DecodeError> {
    let before = buf.len();
    let packet = read_frame(proto, buf)?;
    // The codecs split a whole frame off before decoding its fields, and a field that runs past the
    // frame's end is then "insufficient bytes" too: that frame is malformed, not incomplete.
    if packet.is_none() && buf.len() != before {
        return Err(DecodeError {
            reason: ServerDisconnect::ProtocolError,
            detail: "malformed packet: its fields run past its remaining length".into(),
        });
    }
    Ok(packet)
}

fn read_frame(proto: Proto, buf: &mut BytesMut) -> Result<Option<Inbound>, DecodeError> {
    strict::check_frame(proto, buf)
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

    /// Found by the `codec` fuzz target: a complete MQTT 5 PUBLISH whose property length runs past
    /// its frame was consumed and reported as "need more bytes", so the gateway skipped it silently
    /// instead of closing the connection with a protocol error.
    #[test]
    fn a_field_past_the_frame_is_malformed_not_incomplete() {
        let mut frame = BytesMut::from(&b"\x30\x06\x00\x01a\xff\xff\xff"[..]);
        let e = read(Proto::V5, &mut frame).unwrap_err();
        assert_eq!(e.reason, ServerDisconnect::ProtocolError);
        // v4: a SUBSCRIBE whose filter length runs past the frame.
        let mut frame = BytesMut::from(&b"\x82\x05\x00\x01\x00\x09a"[..]);
        assert!(read(Proto::V4, &mut frame).is_err());
        // Truly incomplete: nothing consumed, more bytes asked for.
        let mut part = BytesMut::from(&b"\x30\x06\x00\x01a"[..]);
        assert_eq!(read(Proto::V5, &mut part).map(|p| p.is_none()), Ok(true));
        assert_eq!(part.len(), 5);
    }
}
