//! Persistent sessions across restarts, as AWS keeps them: a persistent session's row (expiry,
//! subscriptions, lifecycle version) is stored when a connection takes it and after each
//! SUBSCRIBE/UNSUBSCRIBE (before the SUBACK), and again with its undelivered QoS 1 messages when
//! its connection goes away. While it has no connection, each QoS 1 message queued for it is
//! stored before the publisher's PUBACK. Stored messages stay until the next connection has had
//! every one of them acknowledged (a crash in between delivers some twice: QoS 1 is at least
//! once). At start the engine hands the stored sessions to [`Broker::restore`]; their expiry
//! counts from when their connection went away (or, for one that was connected when Thingbox
//! stopped without a goodbye, from the restart).
//!
//! Only sessions with a connection-free life are stored; clean sessions and device traffic to
//! connected clients never touch storage.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::session::SessionState;
use super::{Broker, Delivery, Message, Session, SubOptions};
use crate::storage::sessions::{QueuedRow, SessionRow, SessionWrite, StoredSub};
use crate::storage::{Pending, Write};

fn row(session: &Session, st: &SessionState, disconnected_at_ms: Option<i64>) -> SessionRow {
    let mut subscriptions: Vec<StoredSub> = st
        .subscriptions
        .iter()
        .map(|(filter, o)| StoredSub {
            filter: filter.clone(),
            qos: o.qos,
            no_local: o.no_local,
            retain_as_published: o.retain_as_published,
        })
        .collect();
    subscriptions.sort_by(|a, b| a.filter.cmp(&b.filter));
    SessionRow {
        client_id: session.client_id.clone(),
        expiry_secs: st.expiry_secs,
        disconnected_at_ms,
        version: st.version,
        subscriptions,
    }
}

fn queued(d: &Delivery) -> QueuedRow {
    QueuedRow { message: d.message.to_row(), qos: d.qos, retain: d.retain, dup: d.dup }
}

fn stores(st: &SessionState) -> bool {
    st.persistent && st.expiry_secs > 0
}

/// The write for a message queued for `session` while it has no connection.
pub(super) fn enqueued(session: &Session, msg: &Message, qos: u8) -> Write {
    let row = QueuedRow { message: msg.to_row(), qos, retain: false, dup: false };
    Write::Session(SessionWrite::Enqueue { client_id: session.client_id.clone(), row })
}

/// The write that forgets `session`.
pub(super) fn delete(session: &Session) -> Write {
    Write::Session(SessionWrite::Delete(session.client_id.clone()))
}

/// The writes for a connection that has just taken `session` (state `st`, already updated).
pub(super) fn connected(session: &Session, st: &mut SessionState) -> Vec<Write> {
    if stores(st) {
        st.stored = true;
        vec![Write::Session(SessionWrite::Put(row(session, st, None)))]
    } else if std::mem::take(&mut st.stored) {
        st.stored_queue = false;
        vec![delete(session)]
    } else {
        Vec::new()
    }
}

/// The writes for a persistent session whose connection has just gone away.
pub(super) fn disconnected(session: &Session, st: &mut SessionState, now_ms: i64) -> Vec<Write> {
    st.stored = true;
    st.stored_queue = true;
    vec![
        Write::Session(SessionWrite::Put(row(session, st, Some(now_ms)))),
        Write::Session(SessionWrite::SetQueue {
            client_id: session.client_id.clone(),
            // Sent and not acknowledged: resent with DUP, first, in the order they were sent.
            rows: st
                .inflight_in_send_order()
                .into_iter()
                .map(|d| QueuedRow { dup: true, ..queued(d) })
                .chain(st.queued_iter().filter(|d| d.qos > 0).map(queued))
                .collect(),
        }),
    ]
}

impl Broker {
    /// Counts `st`'s session among the persistent sessions without a connection, or not.
    pub(super) fn count_offline(&self, st: &mut SessionState, offline: bool) {
        if st.counted_offline != offline {
            st.counted_offline = offline;
            if offline {
                self.offline.fetch_add(1, Ordering::Relaxed);
            } else {
                self.offline.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Whether some persistent session has no connection: a publish may then queue a message that
    /// must be stored before it is acknowledged.
    pub fn has_offline_sessions(&self) -> bool {
        self.offline.load(Ordering::Relaxed) > 0
    }

    /// Stores `session`'s subscriptions if it is persistent (after SUBSCRIBE or UNSUBSCRIBE; the
    /// acknowledgement waits for it).
    pub fn save_session(&self, session: &Session) -> Pending {
        let st = session.state.lock();
        if stores(&st) && st.stored {
            self.writer.submit(vec![Write::Session(SessionWrite::Put(row(session, &st, None)))])
        } else {
            Pending::done()
        }
    }

    /// A PUBACK from `session`'s connection: frees the packet id, and once the connection has had
    /// every stored message acknowledged, forgets them. True when a queued delivery can now go.
    pub fn acked(&self, session: &Session, pkid: u16) -> bool {
        let mut st = session.state.lock();
        let removed = st.inflight.remove(&pkid);
        if let Some(t) = removed.as_ref().and_then(|d| d.message.trace.as_ref()) {
            let client_id = session.client_id.clone();
            t.step(thingbox_api::trace::Step::Acknowledged { client_id, packet_id: pkid });
        }
        let freed = removed.is_some();
        if st.stored_queue && st.inflight.is_empty() && st.queued() == 0 {
            st.stored_queue = false;
            let clear = SessionWrite::SetQueue { client_id: session.client_id.clone(), rows: Vec::new() };
            let _ = self.writer.submit(vec![Write::Session(clear)]);
        }
        freed && st.queued() > 0
    }

    /// Brings back the stored sessions (at start, before any connection): each waits for a
    /// connection with its subscriptions and queued messages, or ends at once if it has expired.
    /// Returns how many came back.
    pub fn restore(&self, stored: Vec<(SessionRow, Vec<QueuedRow>)>, now_ms: i64) -> usize {
        let mut writes = Vec::new();
        let mut restored = 0;
        let mut sessions = self.sessions.lock();
        for (mut r, queue) in stored {
            let gone_ms = r.disconnected_at_ms.map_or(0, |at| now_ms.saturating_sub(at).max(0));
            if gone_ms >= (r.expiry_secs as i64).saturating_mul(1000) {
                writes.push(Write::Session(SessionWrite::Delete(r.client_id)));
                continue;
            }
            let session = Arc::new(Session::new(self.new_id(), r.client_id.clone(), self.config.max_queued));
            {
                let mut st = session.state.lock();
                st.persistent = true;
                st.expiry_secs = r.expiry_secs;
                st.version = r.version;
                st.disconnected_at = Some(
                    Instant::now()
                        .checked_sub(Duration::from_millis(gone_ms as u64))
                        .unwrap_or_else(Instant::now),
                );
                st.stored = true;
                st.stored_queue = !queue.is_empty();
                for q in queue {
                    let message = Arc::new(Message::from_stored(q.message, q.retain));
                    st.push_back(Delivery { message, qos: q.qos, retain: q.retain, dup: q.dup });
                }
                for sub in &r.subscriptions {
                    let opts = SubOptions {
                        qos: sub.qos,
                        no_local: sub.no_local,
                        retain_as_published: sub.retain_as_published,
                    };
                    st.subscriptions.insert(sub.filter.clone(), opts);
                }
                self.count_offline(&mut st, true);
            }
            let mut trie = self.trie.write();
            for sub in &r.subscriptions {
                trie.insert(&sub.filter, super::trie::Entry { session: session.clone(), qos: sub.qos });
            }
            drop(trie);
            if r.disconnected_at_ms.is_none() {
                // Connected when Thingbox stopped without a goodbye: its expiry runs from now.
                r.disconnected_at_ms = Some(now_ms);
                writes.push(Write::Session(SessionWrite::Put(r.clone())));
            }
            sessions.insert(r.client_id, session);
            restored += 1;
        }
        drop(sessions);
        let _ = self.writer.submit(writes);
        restored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{BrokerConfig, Principal};
    use crate::storage::Db;

    fn message(topic: &str, payload: &str) -> Message {
        Message {
            topic: topic.into(),
            payload: payload.as_bytes().to_vec().into(),
            qos: 1,
            retain: false,
            properties: Default::default(),
            client_id: Some("publisher".into()),
            principal: Principal::from_text("thingbox:console"),
            timestamp_ms: 1,
            rule_hops: 0,
            trace: None,
        }
    }

    /// A persistent session written by one router comes back in another; an expired one is
    /// dropped from storage instead.
    #[tokio::test]
    async fn sessions_come_back_and_expired_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let (db, task) = Db::open(dir.path()).await.unwrap();
        let broker = Broker::new(BrokerConfig::default(), Vec::new(), &db, Default::default());
        for (client, expiry) in [("keeps", 3600), ("short", 60)] {
            let a = broker.connect(client, false, true, expiry);
            let opts = SubOptions { qos: 1, no_local: true, retain_as_published: false };
            broker.subscribe(&a.session, "room/+/temp", opts);
            broker.save_session(&a.session).wait().await.unwrap();
            broker.disconnect(&a.session, a.connection);
        }
        assert!(broker.has_offline_sessions());
        broker.publish(message("room/1/temp", "21.5")).await.unwrap();
        broker.publish(message("room/2/temp", "19")).await.unwrap();
        let stored = crate::storage::sessions::load(db.pool()).await.unwrap();
        assert_eq!(stored.len(), 2);
        let (row, queue) = stored.iter().find(|(r, _)| r.client_id == "keeps").unwrap();
        assert_eq!(row.expiry_secs, 3600);
        assert_eq!(row.subscriptions[0].filter, "room/+/temp");
        assert!(row.subscriptions[0].no_local && row.disconnected_at_ms.is_some());
        assert_eq!(queue.iter().map(|q| &q.message.payload[..]).collect::<Vec<_>>(), [&b"21.5"[..], b"19"]);

        // Two minutes later, in a new router: "short" has expired, "keeps" has not.
        let later = crate::broker::now_ms() + 120_000;
        let again = Broker::new(BrokerConfig::default(), Vec::new(), &db, Default::default());
        assert_eq!(again.restore(stored, later), 1);
        assert_eq!(again.session_count(), 1);
        assert!(again.has_offline_sessions());
        // Its subscription routes again, into its queue, behind the stored messages.
        again.publish(message("room/3/temp", "18")).await.unwrap();
        let a = again.connect("keeps", false, true, 3600);
        assert!(a.session_present);
        assert!(!again.has_offline_sessions());
        let got: Vec<Vec<u8>> = {
            let st = a.session.state.lock();
            st.queued_iter().map(|d| d.message.payload.to_vec()).collect()
        };
        assert_eq!(got, [b"21.5".to_vec(), b"19".to_vec(), b"18".to_vec()]);
        let left = crate::storage::sessions::load(db.pool()).await.unwrap();
        assert_eq!(left.iter().map(|(r, _)| r.client_id.as_str()).collect::<Vec<_>>(), ["keeps"]);
        drop((broker, again, a));
        let pool = db.pool().clone();
        drop(db);
        task.await.unwrap();
        pool.close().await;
    }
}
