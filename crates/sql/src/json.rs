//! Payload parsing straight into SQL values (no intermediate `serde_json::Value`), keeping object
//! keys in their order.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::value::{Object, Value};

/// Parses a JSON text; `None` when the bytes are not JSON (a binary payload).
pub fn parse(bytes: &[u8], whole_decimals_as_int: bool) -> Option<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = Seed(whole_decimals_as_int).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(v)
}

#[derive(Clone, Copy)]
struct Seed(bool);

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Decimal(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::decimal(v, self.0))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Object::with_capacity(map.size_hint().unwrap_or(8).min(1024));
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(self)?;
            out.push(k, v);
        }
        out.dedup();
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_in_order_and_refuses_non_json() {
        let v = parse(br#"{"b":1,"a":[true,null,2.5,10.0]}"#, true).unwrap();
        assert_eq!(v.json_text(), r#"{"b":1,"a":[true,null,2.5,10]}"#);
        assert_eq!(parse(br#"{"a":10.0}"#, false).unwrap().json_text(), r#"{"a":10.0}"#);
        assert!(parse(b"\x00\x01binary", true).is_none());
        assert!(parse(b"{} trailing", true).is_none());
        assert_eq!(parse(b" 42 ", true), Some(Value::Int(42)));
    }
}
