//! The bytes at Thingbox's edge, read and written without IO: MQTT 3.1.1 and 5 packets
//! ([`mqtt`], on rumqttc's `mqttbytes` codecs, with the protocol rules those codecs leave out) and
//! AWS Signature Version 4 ([`sigv4`]: which service a request was signed for, and whether the
//! signature is right).
//!
//! A crate of its own, with no async runtime of its own and none of the engine's AWS SDK
//! dependencies, so that libFuzzer's instrumented build reaches these parsers quickly
//! (`fuzz/targets/{mqtt,sigv4}.rs`). The engine's gateway and HTTP edge are its only callers.

pub mod mqtt;
pub mod sigv4;
