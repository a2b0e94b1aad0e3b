//! The event switches (`UpdateEventConfigurations` / `DescribeEventConfigurations`): which
//! `$aws/events/…` messages the services publish, durable in the settings table. Services ask
//! [`EventSwitches::is_enabled`] before building an event, so a disabled type costs nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use thingbox_model::Timestamp;
use thingbox_model::event_config::{EventConfigurations, EventType};

use crate::Error;
use crate::storage::undo::Undo;
use crate::storage::{Db, StorageError, Write};

const KEY: &str = "event_configurations";

/// The switches.
#[derive(Debug)]
pub struct EventSwitches {
    state: RwLock<EventConfigurations>,
    db: Db,
    /// A pending update, to put the switches back if it is refused.
    undo: Undo<()>,
}

impl EventSwitches {
    /// Loads the switches (all off in a new data dir).
    pub async fn load(db: Db) -> Result<Arc<Self>, StorageError> {
        let state = parse(db.setting(KEY).await?);
        Ok(Arc::new(Self { state: RwLock::new(state), db, undo: Undo::default() }))
    }

    /// Whether events of type `t` are published.
    pub fn is_enabled(&self, t: EventType) -> bool {
        self.state.read().is_enabled(t)
    }

    /// The switches now.
    pub fn get(&self) -> EventConfigurations {
        self.state.read().clone()
    }

    /// Applies an update (type word → `Enabled`) and answers once it is durable. A refused update
    /// changes nothing.
    pub async fn update(
        &self,
        changes: &BTreeMap<String, Option<bool>>,
        now: Timestamp,
    ) -> Result<(), Error> {
        let (pending, ticket) = {
            let mut state = self.state.write();
            let mut next = state.clone();
            next.update(changes, now).map_err(|e| Error::InvalidRequest(e.0))?;
            let value = serde_json::to_string(&next).expect("event configurations serialize");
            *state = next;
            (
                self.db.writer().submit(vec![Write::Setting { key: KEY.to_owned(), value }]),
                self.undo.begin(&()),
            )
        };
        let stored = pending.wait().await;
        if self.undo.settle(&(), ticket, stored.is_ok()) {
            // Refused: the switches go back to what the database holds.
            match self.db.setting(KEY).await {
                Ok(stored) => {
                    let mut state = self.state.write();
                    if !self.undo.busy(&()) {
                        *state = parse(stored);
                    }
                }
                Err(e) => tracing::error!(error = %e, "reading the event configurations back failed"),
            }
        }
        stored?;
        Ok(())
    }
}

/// The stored switches (all off when there are none or they are unreadable).
fn parse(stored: Option<String>) -> EventConfigurations {
    match stored {
        Some(json) => serde_json::from_str(&json).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unreadable event configurations; every event type starts disabled");
            EventConfigurations::default()
        }),
        None => EventConfigurations::default(),
    }
}
