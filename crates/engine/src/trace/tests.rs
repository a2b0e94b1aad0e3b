use super::*;

fn head(client: &str, topic: &'static str, now: i64) -> (String, &'static str, i64) {
    (client.to_owned(), topic, now)
}

fn begin(t: &Tracer, (client, topic, now): (String, &str, i64)) -> Option<Arc<Trace>> {
    let head = Head {
        topic,
        qos: 1,
        retain: false,
        client_id: Some(&client),
        principal: "cert",
        payload: b"{}",
        now_ms: now,
    };
    t.wants(head.client_id, topic, now).map(|armed| t.open(head, armed, None))
}

#[test]
fn sampling_takes_at_most_per_second_and_starts_again_each_second() {
    let t = Tracer::new(TraceConfig { per_second: 3, ring: 100 });
    let got = (0..10).filter(|_| begin(&t, head("c", "a/b", 5_000)).is_some()).count();
    assert_eq!(got, 3);
    let got = (0..10).filter(|_| begin(&t, head("c", "a/b", 6_001)).is_some()).count();
    assert_eq!(got, 3);
    let off = Tracer::new(TraceConfig { per_second: 0, ring: 100 });
    assert!(begin(&off, head("c", "a/b", 5_000)).is_none());
}

#[test]
fn an_armed_session_traces_every_matching_message_until_it_ends() {
    let t = Tracer::new(TraceConfig { per_second: 0, ring: 100 });
    let a = t.arm(Some("lamp-1".into()), None, 1, 0).unwrap();
    let by_topic = t.arm(None, Some("lamp/+/state".into()), 1, 0).unwrap();
    for _ in 0..50 {
        assert!(begin(&t, head("lamp-1", "x/y", 10)).is_some_and(|tr| tr.armed));
    }
    assert!(begin(&t, head("other", "lamp/2/state", 10)).is_some());
    assert!(begin(&t, head("other", "lamp/2/power", 10)).is_none());
    let armed = t.armed(10);
    assert_eq!(armed.iter().find(|x| x.id == a.id).unwrap().traced, 50);
    assert_eq!(armed.iter().find(|x| x.id == by_topic.id).unwrap().traced, 1);
    // Past its minute it traces nothing more.
    assert!(begin(&t, head("lamp-1", "x/y", 60_001)).is_none());
    assert!(t.armed(60_001).is_empty());
    assert!(!t.disarm(a.id));
}

#[test]
fn rings_are_bounded_and_a_sampled_flood_keeps_armed_traces() {
    let t = Tracer::new(TraceConfig { per_second: 1000, ring: 10 });
    t.arm(Some("keep".into()), None, 10, 0).unwrap();
    let kept = begin(&t, head("keep", "k", 1)).unwrap();
    for i in 0..100 {
        begin(&t, head("flood", "f", 1 + i)).unwrap();
    }
    assert_eq!(t.held(), 11);
    assert!(t.get(kept.id).is_some());
    let q = Query { client_id: Some("flood".into()), limit: 100, ..Default::default() };
    let listed = t.list(&q);
    assert_eq!(listed.len(), 10);
    assert!(listed.windows(2).all(|w| w[0].id > w[1].id), "newest first");
}

#[test]
fn steps_past_the_cap_are_counted() {
    let t = Tracer::new(TraceConfig::default());
    let tr = begin(&t, head("c", "a", 1)).unwrap();
    for i in 0..(MAX_STEPS + 5) {
        tr.step(Step::Delivered { client_id: format!("s{i}"), qos: 0, packet_id: None, dup: false });
    }
    let w = tr.to_wire();
    assert_eq!(w.steps.len(), MAX_STEPS + 1);
    assert_eq!(w.steps.last().unwrap().step, Step::MoreSubscribers { count: 5 });
    assert_eq!(w.summary.outcome, format!("sent to {MAX_STEPS}"));
}

#[test]
fn outcomes_name_what_went_wrong() {
    let t = Tracer::new(TraceConfig::default());
    let tr = begin(&t, head("c", "a", 1)).unwrap();
    let sub = |c: &str, outcome| Step::Subscriber {
        client_id: c.into(),
        filters: vec!["a".into()],
        qos: 1,
        outcome,
        service: false,
    };
    tr.step(sub("x", Queueing::Queued));
    tr.step(Step::Delivered { client_id: "x".into(), qos: 1, packet_id: Some(1), dup: false });
    tr.step(sub("y", Queueing::DroppedQueueFull));
    tr.step(sub("z", Queueing::QueuedOffline));
    let s = tr.summary();
    assert_eq!(s.outcome, "sent to 1, queued offline for 1, dropped for 1");
    assert!(s.problem);
    assert_eq!(tr.for_client("x").as_deref(), Some("sent at QoS 1"));
    assert_eq!(tr.for_client("y").as_deref(), Some("dropped: its session's queue was full"));
    assert_eq!(tr.for_client("nobody"), None);

    let denied = begin(&t, head("c", "a", 1)).unwrap();
    denied.step(Step::Refused { reason: "denied by policy".into(), answer: "PUBACK 0x87".into() });
    assert_eq!(denied.summary().outcome, "refused: denied by policy");
    assert_eq!(denied.for_client("x").as_deref(), Some("never routed: denied by policy"));
}

#[test]
fn a_child_trace_points_back_and_its_parent_points_to_it() {
    let t = Tracer::new(TraceConfig { per_second: 1, ring: 10 });
    let parent = begin(&t, head("c", "a", 1)).unwrap();
    // The budget is spent, but a child of a traced message is always traced.
    assert!(begin(&t, head("c", "a", 1)).is_none());
    let child = t.child(
        &parent,
        "rule r".into(),
        Head {
            topic: "b",
            qos: 0,
            retain: false,
            client_id: None,
            principal: "thingbox:rules",
            payload: b"",
            now_ms: 2,
        },
    );
    assert_eq!(child.summary().parent, Some(parent.id));
    assert!(
        parent
            .to_wire()
            .steps
            .iter()
            .any(|s| matches!(s.step, Step::Caused { trace, .. } if trace == child.id))
    );
}

#[test]
fn an_armed_session_traces_at_most_its_cap_a_second_and_counts_the_rest() {
    let t = Tracer::new(TraceConfig { per_second: 0, ring: 10 });
    let a = t.arm(Some("fast".into()), None, 1, 0).unwrap();
    let n = ARMED_PER_SECOND + 500;
    let traced = (0..n).filter(|_| begin(&t, head("fast", "x", 100)).is_some()).count() as u64;
    assert_eq!(traced, ARMED_PER_SECOND);
    let got = t.armed(100).into_iter().find(|x| x.id == a.id).unwrap();
    assert_eq!((got.traced, got.skipped), (ARMED_PER_SECOND, 500));
    // The next second it traces again.
    assert!(begin(&t, head("fast", "x", 1_100)).is_some());
}
