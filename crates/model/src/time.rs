//! Time as the domain sees it: milliseconds since the Unix epoch, passed in by the caller.
//!
//! AWS's REST-JSON APIs render timestamps as epoch *seconds* (fractions allowed), so the wire form is
//! a JSON number of seconds; storage keeps the exact milliseconds.

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Builds a timestamp from milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Epoch seconds with a fractional part, as AWS's JSON APIs render timestamps.
    pub fn epoch_seconds(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_epoch_seconds_with_fraction() {
        assert_eq!(Timestamp::from_millis(1_700_000_000_123).epoch_seconds(), 1_700_000_000.123);
        assert_eq!(Timestamp::from_millis(0).epoch_seconds(), 0.0);
    }
}
