//! Registry rules, case by case: each refused operation must leave the registry unchanged.

use super::*;

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

static SCOPE: std::sync::LazyLock<Scope> =
    std::sync::LazyLock::new(|| Scope::new("us-east-1", "000000000000"));

fn nr(id: impl ToString) -> NewResource<'static> {
    NewResource { scope: &SCOPE, id: id.to_string(), now: T0 }
}

fn attrs(pairs: &[(&str, &str)]) -> Attributes {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn payload(pairs: &[(&str, &str)], merge: bool) -> AttributePayload {
    AttributePayload { attributes: Some(attrs(pairs)), merge }
}

fn thing(r: &mut Registry, name: &str) -> Thing {
    r.create_thing(nr(format!("id-{name}")), name, None, None, None).unwrap().0
}

fn group(r: &mut Registry, name: &str, parent: Option<&str>) {
    r.create_thing_group(nr(format!("g-{name}")), name, parent, &ThingGroupProps::default(), &[]).unwrap();
}

/// Runs `op` and checks that a failure left every record as it was.
fn refused<T: std::fmt::Debug>(
    r: &mut Registry,
    op: impl FnOnce(&mut Registry) -> Result<T>,
) -> RegistryError {
    let before = format!("{:?}", (&r.things, &r.types, &r.groups, &r.memberships, &r.members));
    let err = op(r).expect_err("operation should be refused");
    let after = format!("{:?}", (&r.things, &r.types, &r.groups, &r.memberships, &r.members));
    assert_eq!(before, after, "a refused operation changed the registry");
    err
}

#[test]
fn create_thing_is_idempotent_for_same_config() {
    let mut r = Registry::new();
    let p = payload(&[("color", "red")], false);
    let (a, ch) = r.create_thing(nr("id1"), "lamp", None, Some(&p), None).unwrap();
    assert_eq!(ch.len(), 1);
    assert_eq!(a.version, 1);
    let (b, ch) = r.create_thing(nr("id2"), "lamp", None, Some(&p), None).unwrap();
    assert!(ch.is_empty());
    assert_eq!(b.id, "id1");
    let err = refused(&mut r, |r| {
        r.create_thing(nr("id3"), "lamp", None, Some(&payload(&[("color", "blue")], false)), None)
    });
    assert!(
        matches!(err, RegistryError::AlreadyExists { ref id, ref arn, .. } if id == "id1" && arn.ends_with(":thing/lamp")),
        "{err:?}"
    );
}

#[test]
fn create_thing_refusals() {
    let mut r = Registry::new();
    type Op = Box<dyn FnOnce(&mut Registry) -> Result<(Thing, Vec<Change>)>>;
    let cases: Vec<(&str, Op)> = vec![
        ("bad name", Box::new(|r| r.create_thing(nr("x"), "a b", None, None, None))),
        ("unknown type", Box::new(|r| r.create_thing(nr("x"), "a", Some("nope"), None, None))),
        (
            "too many attributes",
            Box::new(|r| {
                r.create_thing(
                    nr("x"),
                    "a",
                    None,
                    Some(&payload(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")], false)),
                    None,
                )
            }),
        ),
        (
            "bad attribute value",
            Box::new(|r| r.create_thing(nr("x"), "a", None, Some(&payload(&[("a", "x y")], false)), None)),
        ),
        ("unknown billing group", Box::new(|r| r.create_thing(nr("x"), "a", None, None, Some("bg")))),
    ];
    for (what, op) in cases {
        let err = refused(&mut r, op);
        let expect_not_found = what.starts_with("unknown");
        assert_eq!(matches!(err, RegistryError::NotFound(_)), expect_not_found, "{what}: {err:?}");
    }
    assert_eq!(r.thing_count(), 0);
}

#[test]
fn typed_things_may_have_fifty_attributes() {
    let mut r = Registry::new();
    r.create_thing_type(nr("t"), "bulb", &ThingTypeProps::default(), &[]).unwrap();
    let many: Vec<(String, String)> = (0..50).map(|i| (format!("a{i}"), "v".to_owned())).collect();
    let p = AttributePayload { attributes: Some(many.into_iter().collect()), merge: false };
    r.create_thing(nr("id"), "lamp", Some("bulb"), Some(&p), None).unwrap();
    // Removing the type would leave 50 attributes on an untyped thing.
    let err =
        refused(&mut r, |r| r.update_thing("lamp", &ThingUpdate { remove_type: true, ..Default::default() }));
    assert!(err.to_string().contains("at most 3"), "{err}");
}

#[test]
fn update_thing_merges_replaces_and_versions() {
    let mut r = Registry::new();
    r.create_thing(nr("id"), "lamp", None, Some(&payload(&[("a", "1"), ("b", "2")], false)), None).unwrap();
    let merge =
        ThingUpdate { attributes: Some(payload(&[("b", ""), ("c", "3")], true)), ..Default::default() };
    r.update_thing("lamp", &merge).unwrap();
    assert_eq!(r.thing("lamp").unwrap().attributes, attrs(&[("a", "1"), ("c", "3")]));
    assert_eq!(r.thing("lamp").unwrap().version, 2);
    let replace = ThingUpdate { attributes: Some(payload(&[("z", "9")], false)), ..Default::default() };
    r.update_thing("lamp", &replace).unwrap();
    assert_eq!(r.thing("lamp").unwrap().attributes, attrs(&[("z", "9")]));
    let stale = ThingUpdate { expected_version: Some(1), ..Default::default() };
    let err = refused(&mut r, |r| r.update_thing("lamp", &stale));
    assert!(matches!(err, RegistryError::VersionConflict(_)));
    let ok = ThingUpdate { expected_version: Some(3), ..Default::default() };
    r.update_thing("lamp", &ok).unwrap();
    assert_eq!(r.thing("lamp").unwrap().version, 4);
    let both = ThingUpdate { type_name: Some("t".into()), remove_type: true, ..Default::default() };
    assert!(matches!(refused(&mut r, |r| r.update_thing("lamp", &both)), RegistryError::InvalidRequest(_)));
    assert!(matches!(refused(&mut r, |r| r.update_thing("ghost", &ok)), RegistryError::NotFound(_)));
}

#[test]
fn deprecated_types_refuse_new_things_and_delete_needs_deprecation() {
    let mut r = Registry::new();
    r.create_thing_type(nr("t"), "bulb", &ThingTypeProps::default(), &[]).unwrap();
    thing(&mut r, "lamp");
    r.update_thing("lamp", &ThingUpdate { type_name: Some("bulb".into()), ..Default::default() }).unwrap();
    assert!(matches!(refused(&mut r, |r| r.delete_thing_type("bulb")), RegistryError::InvalidRequest(_)));
    r.deprecate_thing_type("bulb", false, T0).unwrap();
    let err = refused(&mut r, |r| r.create_thing(nr("x"), "other", Some("bulb"), None, None));
    assert!(err.to_string().contains("deprecated"));
    // Still in use by lamp.
    assert!(refused(&mut r, |r| r.delete_thing_type("bulb")).to_string().contains("1 thing"));
    r.update_thing("lamp", &ThingUpdate { remove_type: true, ..Default::default() }).unwrap();
    r.deprecate_thing_type("bulb", true, T0).unwrap();
    assert!(!r.thing_type("bulb").unwrap().deprecated);
    r.create_thing(nr("x"), "other", Some("bulb"), None, None).unwrap();
    r.update_thing("other", &ThingUpdate { remove_type: true, ..Default::default() }).unwrap();
    r.deprecate_thing_type("bulb", false, T0).unwrap();
    r.delete_thing_type("bulb").unwrap();
    assert_eq!(r.thing_type_count(), 0);
}

#[test]
fn thing_type_update_only_changes_mqtt5_configuration() {
    let mut r = Registry::new();
    let props = ThingTypeProps { description: Some("bulbs".into()), ..Default::default() };
    r.create_thing_type(nr("t"), "bulb", &props, &[("env".into(), "dev".into())]).unwrap();
    let changed = ThingTypeProps { description: Some("lamps".into()), ..Default::default() };
    assert!(matches!(
        refused(&mut r, |r| r.update_thing_type("bulb", &changed)),
        RegistryError::InvalidRequest(_)
    ));
    let mqtt5 = ThingTypeProps {
        propagating_attributes: Some(vec![PropagatingAttribute {
            user_property_key: Some("serial".into()),
            thing_attribute: Some("serial".into()),
            connection_attribute: None,
        }]),
        ..props.clone()
    };
    r.update_thing_type("bulb", &mqtt5).unwrap();
    assert!(r.thing_type("bulb").unwrap().propagating_attributes.is_some());
    let too_many = ThingTypeProps {
        searchable_attributes: Some(vec!["a".into(), "b".into(), "c".into(), "d".into()]),
        ..Default::default()
    };
    refused(&mut r, |r| r.create_thing_type(nr("t"), "x", &too_many, &[]));
}

#[test]
fn delete_thing_is_idempotent_and_drops_memberships() {
    let mut r = Registry::new();
    thing(&mut r, "lamp");
    group(&mut r, "hall", None);
    r.add_thing_to_group("hall", "lamp").unwrap();
    assert!(matches!(
        refused(&mut r, |r| r.delete_thing("lamp", Some(7))),
        RegistryError::VersionConflict(_)
    ));
    let changes = r.delete_thing("lamp", Some(1)).unwrap();
    assert_eq!(changes.len(), 2);
    assert!(r.delete_thing("lamp", None).unwrap().is_empty());
    assert!(r.list_things_in_group("hall", false, None, 10).unwrap().items.is_empty());
}

#[test]
fn list_things_filters_and_pages() {
    let mut r = Registry::new();
    for i in 0..5 {
        let p = payload(&[("floor", if i % 2 == 0 { "2a" } else { "3" })], false);
        r.create_thing(nr(format!("id{i}")), &format!("t{i}"), None, Some(&p), None).unwrap();
    }
    let all = r.list_things(&ThingFilter::default(), None, 2).unwrap();
    assert_eq!(all.items.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["t0", "t1"]);
    let next = r.list_things(&ThingFilter::default(), all.next_token.as_deref(), 10).unwrap();
    assert_eq!(next.items.len(), 3);
    assert!(next.next_token.is_none());
    let exact = ThingFilter {
        attribute_name: Some("floor".into()),
        attribute_value: Some("2".into()),
        ..Default::default()
    };
    assert!(r.list_things(&exact, None, 10).unwrap().items.is_empty());
    let prefix = ThingFilter { prefix: true, ..exact.clone() };
    assert_eq!(r.list_things(&prefix, None, 10).unwrap().items.len(), 3);
    let no_name = ThingFilter { attribute_value: Some("2".into()), ..Default::default() };
    assert!(r.list_things(&no_name, None, 10).is_err());
    assert!(r.list_things(&ThingFilter::default(), Some("garbage"), 10).is_err());
}

#[test]
fn groups_hierarchy_rules() {
    let mut r = Registry::new();
    group(&mut r, "building", None);
    group(&mut r, "floor1", Some("building"));
    group(&mut r, "room1", Some("floor1"));
    group(&mut r, "other", None);
    let err = refused(&mut r, |r| {
        r.create_thing_group(nr("g"), "x", Some("ghost"), &ThingGroupProps::default(), &[])
    });
    assert!(matches!(err, RegistryError::InvalidRequest(_)));
    assert_eq!(
        r.ancestors("room1").iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        ["building", "floor1"]
    );
    // Depth limit: room1 is at depth 3; build down to 7 and try an 8th level.
    let mut parent = "room1".to_owned();
    for d in 4..=7 {
        let name = format!("d{d}");
        group(&mut r, &name, Some(&parent));
        parent = name;
    }
    let err = refused(&mut r, |r| {
        r.create_thing_group(nr("g"), "d8", Some("d7"), &ThingGroupProps::default(), &[])
    });
    assert!(err.to_string().contains("at most 7"), "{err}");

    thing(&mut r, "lamp");
    r.add_thing_to_group("room1", "lamp").unwrap();
    r.add_thing_to_group("room1", "lamp").unwrap();
    let err = refused(&mut r, |r| r.add_thing_to_group("floor1", "lamp"));
    assert!(err.to_string().contains("same hierarchy"), "{err}");
    r.add_thing_to_group("other", "lamp").unwrap();
    let in_building = r.list_things_in_group("building", true, None, 10).unwrap();
    assert_eq!(in_building.items, ["lamp"]);
    assert!(r.list_things_in_group("building", false, None, 10).unwrap().items.is_empty());
    let groups = r.list_groups_for_thing("lamp", None, 10).unwrap();
    assert_eq!(groups.items.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["other", "room1"]);

    let children = r.list_thing_groups(Some("building"), None, false, None, 10).unwrap();
    assert_eq!(children.items.len(), 1);
    let all_under = r.list_thing_groups(Some("building"), None, true, None, 100).unwrap();
    assert_eq!(all_under.items.len(), 6);
    let prefixed = r.list_thing_groups(None, Some("d"), false, None, 100).unwrap();
    assert_eq!(prefixed.items.len(), 4);

    let err = refused(&mut r, |r| r.delete_thing_group("floor1", None));
    assert!(err.to_string().contains("child groups"));
    assert!(r.delete_thing_group("nothing-here", None).unwrap().is_empty());
}

#[test]
fn update_groups_for_thing_is_all_or_nothing() {
    let mut r = Registry::new();
    group(&mut r, "a", None);
    group(&mut r, "a1", Some("a"));
    group(&mut r, "b", None);
    thing(&mut r, "lamp");
    r.add_thing_to_group("a", "lamp").unwrap();
    // Adding b and a1 fails on a1 (same hierarchy as a): b must not be added either.
    let err = refused(&mut r, |r| r.update_groups_for_thing("lamp", &["b".into(), "a1".into()], &[]));
    assert!(matches!(err, RegistryError::InvalidRequest(_)));
    // Removing a first makes a1 legal.
    r.update_groups_for_thing("lamp", &["b".into(), "a1".into()], &["a".into()]).unwrap();
    let names: Vec<_> =
        r.list_groups_for_thing("lamp", None, 10).unwrap().items.iter().map(|g| g.name.clone()).collect();
    assert_eq!(names, ["a1", "b"]);
}

#[test]
fn ten_groups_per_thing() {
    let mut r = Registry::new();
    thing(&mut r, "lamp");
    for i in 0..11 {
        group(&mut r, &format!("g{i:02}"), None);
    }
    for i in 0..10 {
        r.add_thing_to_group(&format!("g{i:02}"), "lamp").unwrap();
    }
    let err = refused(&mut r, |r| r.add_thing_to_group("g10", "lamp"));
    assert!(err.to_string().contains("10 thing groups"));
}

#[test]
fn update_thing_group_versions_and_merges() {
    let mut r = Registry::new();
    let props =
        ThingGroupProps { description: Some("d".into()), attributes: Some(payload(&[("a", "1")], false)) };
    r.create_thing_group(nr("g"), "g", None, &props, &[]).unwrap();
    let upd = ThingGroupProps { description: None, attributes: Some(payload(&[("b", "2")], true)) };
    let (v, _) = r.update_thing_group("g", &upd, Some(1)).unwrap();
    assert_eq!(v, 2);
    let g = r.thing_group("g").unwrap();
    assert_eq!(g.attributes, attrs(&[("a", "1"), ("b", "2")]));
    assert_eq!(g.description.as_deref(), Some("d"));
    assert!(matches!(
        refused(&mut r, |r| r.update_thing_group("g", &upd, Some(1))),
        RegistryError::VersionConflict(_)
    ));
}

#[test]
fn tags_on_types_and_groups() {
    let mut r = Registry::new();
    group(&mut r, "g", None);
    r.tag(ResourceType::ThingGroup, "g", &[("env".into(), "dev".into())]).unwrap();
    assert_eq!(r.tags(ResourceType::ThingGroup, "g").unwrap().len(), 1);
    r.untag(ResourceType::ThingGroup, "g", &["env".into(), "absent".into()]).unwrap();
    assert!(r.tags(ResourceType::ThingGroup, "g").unwrap().is_empty());
    assert!(matches!(
        refused(&mut r, |r| r.tag(ResourceType::ThingGroup, "nope", &[])),
        RegistryError::NotFound(_)
    ));
    assert!(matches!(
        refused(&mut r, |r| r.tag(ResourceType::Thing, "lamp", &[])),
        RegistryError::InvalidRequest(_)
    ));
    let err = refused(&mut r, |r| r.tag(ResourceType::ThingGroup, "g", &[("aws:x".into(), "1".into())]));
    assert!(err.to_string().contains("reserved"));
}

#[test]
fn records_round_trip_through_changes() {
    let mut r = Registry::new();
    let mut log = Vec::new();
    log.extend(r.create_thing_type(nr("t"), "bulb", &ThingTypeProps::default(), &[]).unwrap().1);
    log.extend(r.create_thing(nr("i"), "lamp", Some("bulb"), None, None).unwrap().1);
    log.extend(r.create_thing_group(nr("g"), "g", None, &ThingGroupProps::default(), &[]).unwrap().1);
    log.extend(r.add_thing_to_group("g", "lamp").unwrap());
    log.extend(r.update_thing("lamp", &ThingUpdate::default()).unwrap());
    let mut replay = Registry::new();
    for c in &log {
        replay.apply(c);
    }
    assert_eq!(format!("{:?}", replay.things), format!("{:?}", r.things));
    assert_eq!(format!("{:?}", replay.members), format!("{:?}", r.members));
}
