//! The gateway's MQTT reading, fed as a connection feeds it: the input (after its first byte, the
//! size of the pieces it arrives in) is a byte stream whose CONNECT names the protocol, then packets
//! read one after another until the stream ends or a packet is refused. Each packet gets the reply
//! the gateway would write, and every PUBLISH read is written back by the gateway's writer and must
//! read back the same: what Thingbox sends a subscriber is what a publisher sent it.
#![no_main]

use bytes::BytesMut;
use thingbox_wire::mqtt::{self, Inbound, Proto, PublishOut, SubResult};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&piece, stream)) = data.split_first() else { return };
    let piece = usize::from(piece).max(1);
    let (mut buf, mut out) = (BytesMut::new(), BytesMut::new());
    let mut proto = None;
    for chunk in stream.chunks(piece) {
        buf.extend_from_slice(chunk);
        loop {
            let p = match proto {
                Some(p) => p,
                None => match mqtt::sniff(&buf) {
                    Ok(Some(p)) => *proto.insert(p),
                    Ok(None) => break,
                    Err(_) => return,
                },
            };
            let before = buf.len();
            match mqtt::read(p, &mut buf) {
                Ok(Some(packet)) => {
                    assert!(buf.len() < before, "a packet was read without consuming bytes");
                    reply(p, packet, &mut out);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "an incomplete packet consumed bytes");
                    break;
                }
                Err(e) => {
                    mqtt::disconnect(p, e.reason, &mut out);
                    return;
                }
            }
        }
    }
});

fn reply(proto: Proto, packet: Inbound, out: &mut BytesMut) {
    match packet {
        Inbound::Connect(c) => mqtt::connack(proto, !c.clean, None, Some(c.client_id), out),
        Inbound::Publish { topic, payload, qos, retain, pkid, properties, topic_alias } => {
            if qos == 1 {
                mqtt::puback(proto, pkid, mqtt::Ack::Success, out);
            }
            // A topic alias stands for a topic the connection resolves; the writer never sends one.
            if topic_alias.is_none() {
                round_trip(
                    proto,
                    PublishOut {
                        topic: &topic,
                        payload: &payload,
                        properties: &properties,
                        qos: qos.min(1),
                        retain,
                    },
                );
            }
        }
        Inbound::Subscribe { pkid, filters } => {
            let results: Vec<SubResult> = filters.iter().map(|f| SubResult::Granted(f.qos.min(1))).collect();
            mqtt::suback(proto, pkid, &results, out);
        }
        Inbound::Unsubscribe { pkid, filters } => mqtt::unsuback(proto, pkid, filters.len(), out),
        Inbound::PingReq => mqtt::pingresp(proto, out),
        Inbound::PubAck(_) | Inbound::Disconnect { .. } | Inbound::Unexpected(_) => {}
    }
}

/// Writes `p` as a delivery and reads it back.
fn round_trip(proto: Proto, p: PublishOut<'_>) {
    let mut wire = BytesMut::new();
    mqtt::publish(proto, p, 7, false, &mut wire);
    match mqtt::read(proto, &mut wire) {
        Ok(Some(Inbound::Publish { topic, payload, qos, retain, properties, .. })) => {
            assert_eq!((topic.as_str(), &payload, qos, retain), (p.topic, p.payload, p.qos, p.retain));
            if proto == Proto::V5 {
                assert_eq!(&properties, p.properties);
            }
            assert!(wire.is_empty(), "the writer wrote more than one packet");
        }
        other => panic!("a PUBLISH the gateway wrote did not read back: {other:?}"),
    }
}
