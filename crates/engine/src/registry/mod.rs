//! The registry service: the model's [`Registry`] held in memory for reads, with every accepted
//! change made durable through the storage writer before the caller is answered.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;
use thingbox_model::registry::{Change, Registry, RegistryError};

use thingbox_api::console::{ConsoleEvent, ResourceKind};

use crate::Error;
use crate::events::Bus;
use crate::storage::{Db, StorageError, Write};

/// Things, thing types, thing groups and memberships.
#[derive(Debug)]
pub struct RegistryService {
    state: RwLock<Registry>,
    db: Db,
    /// Bumped after every committed change: caches of derived data (compiled policies per
    /// connection) compare it instead of taking the lock.
    generation: AtomicU64,
    /// Where committed changes are announced to the console.
    console: Bus<ConsoleEvent>,
    /// Bumped after a committed change to which things are in which groups (continuous jobs
    /// follow it).
    membership: tokio::sync::watch::Sender<u64>,
}

/// Whether a change can move a thing into or out of a group's (recursive) membership.
fn moves_members(c: &Change) -> bool {
    matches!(
        c,
        Change::AddMember { .. }
            | Change::RemoveMember { .. }
            | Change::DeleteThing(_)
            | Change::PutThingGroup(_)
            | Change::DeleteThingGroup(_)
    )
}

/// What a change is about, for the console.
fn subject(c: &Change) -> (ResourceKind, &str, bool) {
    use ResourceKind as K;
    match c {
        Change::PutThing(t) => (K::Thing, &t.name, false),
        Change::DeleteThing(n) => (K::Thing, n, true),
        Change::PutThingType(t) => (K::ThingType, &t.name, false),
        Change::DeleteThingType(n) => (K::ThingType, n, true),
        Change::PutThingGroup(g) => (K::ThingGroup, &g.name, false),
        Change::DeleteThingGroup(n) => (K::ThingGroup, n, true),
        Change::AddMember { group, .. } | Change::RemoveMember { group, .. } => (K::ThingGroup, group, false),
        Change::PutCertificate(c) => (K::Certificate, &c.facts.id, false),
        Change::DeleteCertificate(id) => (K::Certificate, id, true),
        Change::PutCaCertificate(c) => (K::CaCertificate, &c.facts.id, false),
        Change::DeleteCaCertificate(id) => (K::CaCertificate, id, true),
        Change::AttachPrincipal { thing, .. } | Change::DetachPrincipal { thing, .. } => {
            (K::Thing, thing, false)
        }
        Change::PutPolicy(p) => (K::Policy, &p.name, false),
        Change::DeletePolicy(n) => (K::Policy, n, true),
        Change::AttachPolicy { policy, .. } | Change::DetachPolicy { policy, .. } => {
            (K::Policy, policy, false)
        }
    }
}

impl RegistryService {
    /// Loads the registry from the database.
    pub async fn load(db: Db, console: Bus<ConsoleEvent>) -> Result<Self, StorageError> {
        let registry = crate::storage::registry::load(db.pool()).await?;
        Ok(Self {
            state: RwLock::new(registry),
            db,
            generation: AtomicU64::new(1),
            console,
            membership: tokio::sync::watch::Sender::new(0),
        })
    }

    /// The change counter (see the field).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A receiver that sees a new value after each committed membership change.
    pub fn membership(&self) -> tokio::sync::watch::Receiver<u64> {
        self.membership.subscribe()
    }

    /// The registered CA certificates, (id, PEM).
    pub fn ca_certificate_pems(&self) -> Vec<(String, String)> {
        self.state.read().ca_certificates().map(|c| (c.facts.id.clone(), c.facts.pem.clone())).collect()
    }

    /// Runs a read against the current state.
    pub fn read<R>(&self, f: impl FnOnce(&Registry) -> Result<R, RegistryError>) -> Result<R, Error> {
        Ok(f(&self.state.read())?)
    }

    /// Runs a mutating operation: decides under the lock, queues its changes in decision order, and
    /// returns once they are committed. A refused operation changed nothing.
    pub async fn write<R>(
        &self,
        f: impl FnOnce(&mut Registry) -> Result<(R, Vec<Change>), RegistryError>,
    ) -> Result<R, Error> {
        let (out, pending, events, moved) = {
            let mut state = self.state.write();
            let (out, changes) = f(&mut state)?;
            let moved = changes.iter().any(moves_members);
            if !changes.is_empty() {
                self.generation.fetch_add(1, Ordering::Release);
            }
            let mut events: Vec<ConsoleEvent> = Vec::new();
            if self.console.has_listeners() {
                for c in &changes {
                    let (kind, name, deleted) = subject(c);
                    let e = ConsoleEvent::Registry { kind, name: name.to_owned(), deleted };
                    if !events.contains(&e) {
                        events.push(e);
                    }
                }
            }
            let pending = self.db.writer().submit(changes.into_iter().map(Write::Registry).collect());
            (out, pending, events, moved)
        };
        if let Err(e) = pending.wait().await {
            // Memory ran ahead of the disk: take the disk's word again.
            tracing::error!(error = %e, "registry write failed; reloading the registry from the database");
            match crate::storage::registry::load(self.db.pool()).await {
                Ok(fresh) => *self.state.write() = fresh,
                Err(reload) => tracing::error!(error = %reload, "reloading the registry failed"),
            }
            return Err(e.into());
        }
        for e in events {
            self.console.emit(e);
        }
        if moved {
            self.membership.send_modify(|n| *n += 1);
        }
        Ok(out)
    }

    /// Like [`write`](Self::write) for operations that only return changes.
    pub async fn change(
        &self,
        f: impl FnOnce(&mut Registry) -> Result<Vec<Change>, RegistryError>,
    ) -> Result<(), Error> {
        self.write(|r| f(r).map(|c| ((), c))).await
    }
}
