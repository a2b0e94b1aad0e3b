//! The MQTT rules the codec (rumqttc's `mqttbytes`) does not enforce, checked on each complete
//! frame before it is decoded: fixed-header flags, CONNECT's reserved and dependent flags, a
//! non-zero SUBSCRIBE/UNSUBSCRIBE packet id, DUP only at QoS 1, subscription options' reserved bits, subscription identifiers
//! (AWS IoT does not support them, and says so in CONNACK), and the fixed sizes of PINGREQ,
//! DISCONNECT (3.1.1) and PUBACK (3.1.1). A frame that breaks one is a protocol error: the
//! connection is closed (MQTT 5: after a DISCONNECT with the reason).

use super::{Proto, ServerDisconnect};

/// A broken rule: what to tell the client, and why (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The DISCONNECT reason (MQTT 5).
    pub reason: ServerDisconnect,
    /// What was wrong.
    pub detail: &'static str,
}

fn protocol(detail: &'static str) -> Violation {
    Violation { reason: ServerDisconnect::ProtocolError, detail }
}

/// The fixed header's length and the remaining length, once both are in `buf` (a malformed
/// length is `None` too: the codec says so).
fn fixed_header(buf: &[u8]) -> Option<(usize, usize)> {
    let (len, n) = varint(buf.get(1..)?)?;
    Some((1 + n, len))
}

/// Checks the first frame in `buf` if it is complete (an incomplete one is checked when it is).
pub fn check_frame(proto: Proto, buf: &[u8]) -> Result<(), Violation> {
    let Some((header, remaining)) = fixed_header(buf) else { return Ok(()) };
    let Some(body) = buf.get(header..header + remaining) else { return Ok(()) };
    let (kind, flags) = (buf[0] >> 4, buf[0] & 0x0F);
    match kind {
        1 if flags != 0 => Err(protocol("CONNECT's fixed-header flags must be 0")),
        1 => connect(proto, body),
        4 if proto == Proto::V4 && remaining != 2 => Err(protocol("a 3.1.1 PUBACK is 2 bytes long")),
        6 | 8 | 10 if flags != 0b0010 => {
            Err(protocol("PUBREL, SUBSCRIBE and UNSUBSCRIBE must have flags 0010"))
        }
        8 => subscribe(proto, body),
        10 => unsubscribe(proto, body),
        3 if flags & 0x08 != 0 && flags & 0x06 == 0 => Err(protocol("a QoS 0 PUBLISH cannot have DUP set")),
        12 | 13 if remaining != 0 => Err(protocol("PINGREQ has no body")),
        14 if proto == Proto::V4 && remaining != 0 => Err(protocol("a 3.1.1 DISCONNECT has no body")),
        4 | 12 | 13 | 14 if flags != 0 => Err(protocol("this packet's fixed-header flags must be 0")),
        _ => Ok(()),
    }
}

fn connect(proto: Proto, body: &[u8]) -> Result<(), Violation> {
    // Protocol name (2 + 4 bytes), level, then the flags.
    let Some(&flags) = body.get(7) else { return Ok(()) };
    if flags & 0x01 != 0 {
        return Err(protocol("CONNECT's reserved flag must be 0"));
    }
    let will = flags & 0x04 != 0;
    let will_qos = (flags >> 3) & 0x03;
    if will_qos == 3 {
        return Err(protocol("the will's QoS cannot be 3"));
    }
    if !will && (will_qos != 0 || flags & 0x20 != 0) {
        return Err(protocol("will QoS and retain must be 0 without a will"));
    }
    if proto == Proto::V4 && flags & 0x40 != 0 && flags & 0x80 == 0 {
        return Err(protocol("MQTT 3.1.1 does not allow a password without a user name"));
    }
    Ok(())
}

fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut v = 0usize;
    for i in 0..4 {
        let x = *b.get(i)?;
        v |= usize::from(x & 0x7F) << (7 * i);
        if x & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn unsubscribe(proto: Proto, body: &[u8]) -> Result<(), Violation> {
    let malformed = || protocol("malformed UNSUBSCRIBE");
    if body.len() < 2 {
        return Err(malformed());
    }
    if body[0] == 0 && body[1] == 0 {
        return Err(protocol("UNSUBSCRIBE needs a non-zero packet identifier"));
    }
    let mut at = 2;
    if proto == Proto::V5 {
        let (len, n) = varint(&body[at..]).ok_or_else(malformed)?;
        at += n + len;
    }
    if at >= body.len() {
        return Err(protocol("UNSUBSCRIBE must name at least one topic filter"));
    }
    Ok(())
}

fn subscribe(proto: Proto, body: &[u8]) -> Result<(), Violation> {
    let malformed = || protocol("malformed SUBSCRIBE");
    if body.len() < 2 {
        return Err(malformed());
    }
    if body[0] == 0 && body[1] == 0 {
        return Err(protocol("SUBSCRIBE needs a non-zero packet identifier"));
    }
    let mut at = 2;
    if proto == Proto::V5 {
        let (len, n) = varint(&body[at..]).ok_or_else(malformed)?;
        let props = body.get(at + n..at + n + len).ok_or_else(malformed)?;
        let mut p = 0;
        while p < props.len() {
            match props[p] {
                0x0B => {
                    return Err(Violation {
                        reason: ServerDisconnect::SubscriptionIdsNotSupported,
                        detail: "subscription identifiers are not supported (CONNACK says so)",
                    });
                }
                0x26 => {
                    // A user property: two UTF-8 strings.
                    p += 1;
                    for _ in 0..2 {
                        let l = props.get(p..p + 2).ok_or_else(malformed)?;
                        p += 2 + usize::from(u16::from_be_bytes([l[0], l[1]]));
                    }
                }
                _ => return Err(protocol("SUBSCRIBE has an unknown property")),
            }
        }
        at += n + len;
    }
    while at < body.len() {
        let l = body.get(at..at + 2).ok_or_else(malformed)?;
        at += 2 + usize::from(u16::from_be_bytes([l[0], l[1]]));
        let &options = body.get(at).ok_or_else(malformed)?;
        at += 1;
        let reserved = if proto == Proto::V5 { 0xC0 } else { 0xFC };
        if options & reserved != 0
            || options & 0x03 == 3
            || (proto == Proto::V5 && (options >> 4) & 0x03 == 3)
        {
            return Err(protocol("a subscription's options use reserved bits"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(first: u8, body: &[u8]) -> Vec<u8> {
        let mut f = vec![first, body.len() as u8];
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn frames() {
        let connect = |flags: u8| frame(0x10, &[0, 4, b'M', b'Q', b'T', b'T', 4, flags, 0, 30, 0, 1, b'c']);
        assert_eq!(check_frame(Proto::V4, &connect(0x02)), Ok(()));
        for bad in [0x03, 0x42, 0x1E, 0x0A, 0x22] {
            assert!(check_frame(Proto::V4, &connect(bad)).is_err(), "{bad:#x}");
        }
        assert!(check_frame(Proto::V5, &connect(0x42)).is_ok(), "v5 allows a password alone");
        let sub = |first: u8, body: &[u8]| check_frame(Proto::V4, &frame(first, body));
        assert_eq!(sub(0x82, &[0, 1, 0, 1, b'a', 1]), Ok(()));
        assert!(sub(0x80, &[0, 1, 0, 1, b'a', 1]).is_err(), "flags");
        assert!(sub(0x82, &[0, 0, 0, 1, b'a', 1]).is_err(), "packet id 0");
        assert!(sub(0x82, &[0, 1, 0, 1, b'a', 4]).is_err(), "reserved option bits");
        assert!(sub(0x82, &[0, 1, 0, 1, b'a', 3]).is_err(), "QoS 3");
        let v5 = |body: &[u8]| check_frame(Proto::V5, &frame(0x82, body));
        assert_eq!(v5(&[0, 1, 0, 0, 1, b'a', 0x2D]), Ok(()));
        assert_eq!(
            v5(&[0, 1, 2, 0x0B, 1, 0, 1, b'a', 0]).unwrap_err().reason,
            ServerDisconnect::SubscriptionIdsNotSupported
        );
        assert!(v5(&[0, 1, 0, 0, 1, b'a', 0xC0]).is_err());
        assert!(v5(&[0, 1, 0, 0, 1, b'a', 0x30]).is_err(), "retain handling 3");
        assert!(check_frame(Proto::V4, &frame(0xC0, &[0])).is_err(), "PINGREQ with a body");
        assert!(check_frame(Proto::V4, &frame(0xA2, &[0, 1])).is_err(), "UNSUBSCRIBE without filters");
        assert!(
            check_frame(Proto::V4, &frame(0xA2, &[0, 0, 0, 1, b'a'])).is_err(),
            "UNSUBSCRIBE packet id 0"
        );
        assert!(
            check_frame(Proto::V5, &frame(0xA2, &[0, 1, 3, 0x26, 0, 0])).is_err(),
            "v5: properties, no filter"
        );
        assert_eq!(check_frame(Proto::V5, &frame(0xA2, &[0, 1, 0, 0, 1, b'a'])), Ok(()));
        assert!(check_frame(Proto::V4, &frame(0x38, &[0, 1, b'a'])).is_err(), "QoS 0 with DUP");
        assert_eq!(check_frame(Proto::V4, &frame(0x3A, &[0, 1, b'a', 0, 1])), Ok(()), "QoS 1 with DUP");
        assert!(check_frame(Proto::V4, &[0x82, 10, 0, 1]).is_ok(), "incomplete: checked later");
    }
}
