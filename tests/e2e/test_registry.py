"""The registry API (service `iot`) through boto3 and the AWS CLI: every operation, its AWS-shaped
errors, and that a refused request changes nothing."""

import json
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError


def name(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error(call, *args, **kwargs):
    """Runs a boto3 call that must fail; returns (code, message, http status, response)."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    r = info.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"], r


# ---------------------------------------------------------------------------------------- things


def test_create_describe_thing(iot):
    n = name()
    created = iot.create_thing(thingName=n, attributePayload={"attributes": {"color": "red"}})
    assert created["thingName"] == n
    assert created["thingArn"] == f"arn:aws:iot:us-east-1:000000000000:thing/{n}"
    assert len(created["thingId"]) >= 32
    d = iot.describe_thing(thingName=n)
    assert d["thingName"] == n and d["defaultClientId"] == n
    assert d["thingId"] == created["thingId"] and d["thingArn"] == created["thingArn"]
    assert d["attributes"] == {"color": "red"} and d["version"] == 1
    assert "thingTypeName" not in d
    assert d["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_arns_follow_the_signed_region(server):
    eu = server.client("iot", region="eu-central-1")
    n = name()
    assert eu.create_thing(thingName=n)["thingArn"].startswith("arn:aws:iot:eu-central-1:000000000000:thing/")


def test_create_thing_is_idempotent_only_for_same_config(iot):
    n = name()
    first = iot.create_thing(thingName=n, attributePayload={"attributes": {"a": "1"}})
    again = iot.create_thing(thingName=n, attributePayload={"attributes": {"a": "1"}})
    assert again["thingId"] == first["thingId"]
    code, msg, status, r = error(iot.create_thing, thingName=n, attributePayload={"attributes": {"a": "2"}})
    assert (code, status) == ("ResourceAlreadyExistsException", 409)
    assert n in msg
    assert r["resourceId"] == first["thingId"]
    assert r["resourceArn"] == first["thingArn"]
    assert iot.describe_thing(thingName=n)["attributes"] == {"a": "1"}


@pytest.mark.parametrize(
    "kwargs, code, fragment",
    [
        ({"thingName": "has space"}, "InvalidRequestException", "regular expression pattern"),
        ({"thingName": "x" * 129}, "InvalidRequestException", "less than or equal to 128"),
        ({"thingName": "ok", "thingTypeName": "no-such-type"}, "ResourceNotFoundException", "no-such-type"),
        ({"thingName": "ok", "billingGroupName": "no-such-bg"}, "ResourceNotFoundException", "no-such-bg"),
        (
            {"thingName": "ok", "attributePayload": {"attributes": {"a": "1", "b": "2", "c": "3", "d": "4"}}},
            "InvalidRequestException",
            "at most 3",
        ),
        ({"thingName": "ok", "attributePayload": {"attributes": {"a": "white space"}}}, "InvalidRequestException", "pattern"),
        ({"thingName": "ok", "attributePayload": {"attributes": {"a": "v" * 801}}}, "InvalidRequestException", "800"),
    ],
)
def test_create_thing_rejects_bad_input(iot, kwargs, code, fragment):
    kwargs = dict(kwargs)
    if kwargs["thingName"] == "ok":
        kwargs["thingName"] = name("bad")
    c, msg, status, _ = error(iot.create_thing, **kwargs)
    assert c == code, msg
    assert fragment in msg
    assert status == (404 if code == "ResourceNotFoundException" else 400)
    if kwargs["thingName"].startswith("bad-"):
        assert error(iot.describe_thing, thingName=kwargs["thingName"])[0] == "ResourceNotFoundException"


def test_describe_missing_thing(iot):
    code, msg, status, _ = error(iot.describe_thing, thingName="ghost-thing")
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert "ghost-thing" in msg


def test_update_thing_merge_replace_type_and_versions(iot):
    t = name("type")
    iot.create_thing_type(thingTypeName=t)
    n = name()
    iot.create_thing(thingName=n, attributePayload={"attributes": {"a": "1", "b": "2"}})
    iot.update_thing(thingName=n, attributePayload={"attributes": {"b": "", "c": "3"}, "merge": True})
    d = iot.describe_thing(thingName=n)
    assert d["attributes"] == {"a": "1", "c": "3"} and d["version"] == 2
    iot.update_thing(thingName=n, attributePayload={"attributes": {"z": "9"}}, expectedVersion=2)
    d = iot.describe_thing(thingName=n)
    assert d["attributes"] == {"z": "9"} and d["version"] == 3
    iot.update_thing(thingName=n, thingTypeName=t)
    assert iot.describe_thing(thingName=n)["thingTypeName"] == t
    iot.update_thing(thingName=n, removeThingType=True)
    assert "thingTypeName" not in iot.describe_thing(thingName=n)

    before = iot.describe_thing(thingName=n)
    code, msg, status, _ = error(iot.update_thing, thingName=n, attributePayload={"attributes": {"q": "1"}}, expectedVersion=1)
    assert (code, status) == ("VersionConflictException", 409)
    assert "expected version 1" in msg
    code, _, _, _ = error(iot.update_thing, thingName=n, thingTypeName=t, removeThingType=True)
    assert code == "InvalidRequestException"
    code, _, _, _ = error(iot.update_thing, thingName=n, thingTypeName="no-such-type")
    assert code == "ResourceNotFoundException"
    after = iot.describe_thing(thingName=n)
    assert (after["attributes"], after["version"]) == (before["attributes"], before["version"])
    assert error(iot.update_thing, thingName="ghost-thing", attributePayload={"attributes": {}})[0] == "ResourceNotFoundException"


def test_delete_thing(iot):
    n = name()
    iot.create_thing(thingName=n)
    code, _, status, _ = error(iot.delete_thing, thingName=n, expectedVersion=5)
    assert (code, status) == ("VersionConflictException", 409)
    iot.describe_thing(thingName=n)
    iot.delete_thing(thingName=n, expectedVersion=1)
    assert error(iot.describe_thing, thingName=n)[0] == "ResourceNotFoundException"
    # Deleting a thing that does not exist succeeds, as on AWS.
    iot.delete_thing(thingName=n)


def test_list_things_filters_and_pagination(iot):
    tag = uuid.uuid4().hex[:6]
    t = name("type")
    iot.create_thing_type(thingTypeName=t)
    for i in range(7):
        typed = {"thingTypeName": t} if i < 3 else {}
        attrs = {"attributes": {"floor": f"{tag}{i % 2}", "kind": "lamp"}}
        iot.create_thing(thingName=f"list-{tag}-{i}", attributePayload=attrs, **typed)
    exact = iot.list_things(attributeName="floor", attributeValue=f"{tag}0")["things"]
    assert sorted(x["thingName"] for x in exact) == [f"list-{tag}-{i}" for i in (0, 2, 4, 6)]
    prefix = iot.list_things(attributeName="floor", attributeValue=tag, usePrefixAttributeValue=True)["things"]
    assert len(prefix) == 7
    typed = iot.list_things(thingTypeName=t)["things"]
    assert [x["thingName"] for x in typed] == [f"list-{tag}-{i}" for i in range(3)]
    assert all(x["thingTypeName"] == t and x["thingArn"].endswith(x["thingName"]) for x in typed)

    seen, token, pages = [], None, 0
    while True:
        kwargs = {"attributeName": "floor", "attributeValue": tag, "usePrefixAttributeValue": True, "maxResults": 2}
        if token:
            kwargs["nextToken"] = token
        page = iot.list_things(**kwargs)
        pages += 1
        seen += [x["thingName"] for x in page["things"]]
        token = page.get("nextToken")
        if not token:
            break
    assert pages == 4 and sorted(seen) == sorted(f"list-{tag}-{i}" for i in range(7))
    paginated = [
        x["thingName"]
        for p in iot.get_paginator("list_things").paginate(
            attributeName="kind", attributeValue="lamp", PaginationConfig={"PageSize": 3}
        )
        for x in p["things"]
    ]
    assert set(seen) <= set(paginated)

    assert error(iot.list_things, nextToken="not-a-token")[0] == "InvalidRequestException"
    code, msg, _, _ = error(iot.list_things, maxResults=251)
    assert code == "InvalidRequestException" and "250" in msg


# ---------------------------------------------------------------------------------------- thing types


def test_thing_type_lifecycle(iot):
    t = name("type")
    created = iot.create_thing_type(
        thingTypeName=t,
        thingTypeProperties={"thingTypeDescription": "Smart bulbs", "searchableAttributes": ["serial"]},
        tags=[{"Key": "team", "Value": "lighting"}],
    )
    assert created["thingTypeArn"] == f"arn:aws:iot:us-east-1:000000000000:thingtype/{t}"
    again = iot.create_thing_type(
        thingTypeName=t, thingTypeProperties={"thingTypeDescription": "Smart bulbs", "searchableAttributes": ["serial"]}
    )
    assert again["thingTypeId"] == created["thingTypeId"]
    assert error(iot.create_thing_type, thingTypeName=t, thingTypeProperties={"thingTypeDescription": "other"})[0] == (
        "ResourceAlreadyExistsException"
    )
    d = iot.describe_thing_type(thingTypeName=t)
    assert d["thingTypeId"] == created["thingTypeId"]
    assert d["thingTypeProperties"]["thingTypeDescription"] == "Smart bulbs"
    assert d["thingTypeProperties"]["searchableAttributes"] == ["serial"]
    assert d["thingTypeMetadata"]["deprecated"] is False
    assert d["thingTypeMetadata"]["creationDate"].year >= 2024
    listed = iot.list_thing_types(thingTypeName=t)["thingTypes"]
    assert [x["thingTypeName"] for x in listed] == [t]
    tags = iot.list_tags_for_resource(resourceArn=created["thingTypeArn"])["tags"]
    assert tags == [{"Key": "team", "Value": "lighting"}]

    n = name()
    iot.create_thing(thingName=n, thingTypeName=t, attributePayload={"attributes": {f"a{i}": "x" for i in range(10)}})
    code, _, _, _ = error(iot.delete_thing_type, thingTypeName=t)
    assert code == "InvalidRequestException"
    iot.deprecate_thing_type(thingTypeName=t)
    d = iot.describe_thing_type(thingTypeName=t)
    assert d["thingTypeMetadata"]["deprecated"] is True and "deprecationDate" in d["thingTypeMetadata"]
    code, msg, _, _ = error(iot.create_thing, thingName=name(), thingTypeName=t)
    assert code == "InvalidRequestException" and "deprecated" in msg
    code, msg, _, _ = error(iot.delete_thing_type, thingTypeName=t)
    assert code == "InvalidRequestException" and "1 thing" in msg
    iot.deprecate_thing_type(thingTypeName=t, undoDeprecate=True)
    assert iot.describe_thing_type(thingTypeName=t)["thingTypeMetadata"]["deprecated"] is False
    iot.delete_thing(thingName=n)
    iot.deprecate_thing_type(thingTypeName=t)
    iot.delete_thing_type(thingTypeName=t)
    assert error(iot.describe_thing_type, thingTypeName=t)[0] == "ResourceNotFoundException"
    assert error(iot.deprecate_thing_type, thingTypeName=t)[0] == "ResourceNotFoundException"


def test_update_thing_type_mqtt5_configuration(iot):
    t = name("type")
    iot.create_thing_type(thingTypeName=t, thingTypeProperties={"thingTypeDescription": "d"})
    cfg = {"propagatingAttributes": [{"userPropertyKey": "serial", "thingAttribute": "serial"}]}
    iot.update_thing_type(thingTypeName=t, thingTypeProperties={"mqtt5Configuration": cfg})
    d = iot.describe_thing_type(thingTypeName=t)
    assert d["thingTypeProperties"]["mqtt5Configuration"] == cfg
    assert d["thingTypeProperties"]["thingTypeDescription"] == "d"
    code, _, _, _ = error(iot.update_thing_type, thingTypeName=t, thingTypeProperties={"thingTypeDescription": "new"})
    assert code == "InvalidRequestException"


def test_thing_type_limits(iot):
    code, msg, _, _ = error(
        iot.create_thing_type, thingTypeName=name("type"), thingTypeProperties={"searchableAttributes": ["a", "b", "c", "d"]}
    )
    assert code == "InvalidRequestException" and "3 searchable" in msg
    code, _, _, _ = error(iot.create_thing_type, thingTypeName=name("type"), tags=[{"Key": "aws:x", "Value": "1"}])
    assert code == "InvalidRequestException"


# ---------------------------------------------------------------------------------------- thing groups


def test_thing_group_hierarchy_and_membership(iot):
    root, child, leaf, other = name("root"), name("child"), name("leaf"), name("other")
    r = iot.create_thing_group(
        thingGroupName=root,
        thingGroupProperties={"thingGroupDescription": "Building", "attributePayload": {"attributes": {"city": "Lyon"}}},
        tags=[{"Key": "env", "Value": "dev"}],
    )
    assert r["thingGroupArn"].endswith(f":thinggroup/{root}")
    iot.create_thing_group(thingGroupName=child, parentGroupName=root)
    iot.create_thing_group(thingGroupName=leaf, parentGroupName=child)
    iot.create_thing_group(thingGroupName=other)
    d = iot.describe_thing_group(thingGroupName=leaf)
    assert d["version"] == 1
    assert d["thingGroupMetadata"]["parentGroupName"] == child
    assert [g["groupName"] for g in d["thingGroupMetadata"]["rootToParentThingGroups"]] == [root, child]
    d = iot.describe_thing_group(thingGroupName=root)
    assert d["thingGroupProperties"]["thingGroupDescription"] == "Building"
    assert d["thingGroupProperties"]["attributePayload"]["attributes"] == {"city": "Lyon"}
    assert "parentGroupName" not in d["thingGroupMetadata"]

    code, _, _, _ = error(iot.create_thing_group, thingGroupName=name("x"), parentGroupName="no-such-parent")
    assert code == "InvalidRequestException"

    n = name()
    iot.create_thing(thingName=n)
    iot.add_thing_to_thing_group(thingGroupName=leaf, thingName=n)
    iot.add_thing_to_thing_group(thingGroupArn=iot.describe_thing_group(thingGroupName=other)["thingGroupArn"], thingArn=iot.describe_thing(thingName=n)["thingArn"])
    code, msg, _, _ = error(iot.add_thing_to_thing_group, thingGroupName=root, thingName=n)
    assert code == "InvalidRequestException" and "same hierarchy" in msg
    assert error(iot.add_thing_to_thing_group, thingGroupName=root, thingName="ghost-thing")[0] == "ResourceNotFoundException"
    assert error(iot.add_thing_to_thing_group, thingGroupName="ghost-group", thingName=n)[0] == "ResourceNotFoundException"
    assert error(iot.add_thing_to_thing_group, thingName=n)[0] == "InvalidRequestException"

    assert iot.list_things_in_thing_group(thingGroupName=leaf)["things"] == [n]
    assert iot.list_things_in_thing_group(thingGroupName=root)["things"] == []
    assert iot.list_things_in_thing_group(thingGroupName=root, recursive=True)["things"] == [n]
    groups = iot.list_thing_groups_for_thing(thingName=n)["thingGroups"]
    assert sorted(g["groupName"] for g in groups) == sorted([leaf, other])
    assert all(g["groupArn"].endswith(g["groupName"]) for g in groups)

    kids = iot.list_thing_groups(parentGroup=root)["thingGroups"]
    assert [g["groupName"] for g in kids] == [child]
    under = iot.list_thing_groups(parentGroup=root, recursive=True)["thingGroups"]
    assert sorted(g["groupName"] for g in under) == sorted([child, leaf])
    prefixed = iot.list_thing_groups(namePrefixFilter=root)["thingGroups"]
    assert [g["groupName"] for g in prefixed] == [root]
    assert error(iot.list_thing_groups, parentGroup="ghost-group")[0] == "ResourceNotFoundException"

    iot.remove_thing_from_thing_group(thingGroupName=leaf, thingName=n)
    assert iot.list_things_in_thing_group(thingGroupName=leaf)["things"] == []
    iot.update_thing_groups_for_thing(thingName=n, thingGroupsToAdd=[root], thingGroupsToRemove=[other])
    assert [g["groupName"] for g in iot.list_thing_groups_for_thing(thingName=n)["thingGroups"]] == [root]

    code, msg, _, _ = error(iot.delete_thing_group, thingGroupName=root)
    assert code == "InvalidRequestException" and "child groups" in msg
    iot.delete_thing_group(thingGroupName=leaf)
    iot.delete_thing_group(thingGroupName=child)
    iot.delete_thing_group(thingGroupName=root)
    assert iot.list_thing_groups_for_thing(thingName=n)["thingGroups"] == []
    iot.delete_thing_group(thingGroupName=root)  # gone already: still succeeds


def test_update_thing_group_versions(iot):
    g = name("group")
    iot.create_thing_group(thingGroupName=g, thingGroupProperties={"attributePayload": {"attributes": {"a": "1"}}})
    v = iot.update_thing_group(
        thingGroupName=g,
        thingGroupProperties={"thingGroupDescription": "new", "attributePayload": {"attributes": {"b": "2"}, "merge": True}},
        expectedVersion=1,
    )["version"]
    assert v == 2
    d = iot.describe_thing_group(thingGroupName=g)
    assert d["thingGroupProperties"]["attributePayload"]["attributes"] == {"a": "1", "b": "2"}
    assert d["thingGroupProperties"]["thingGroupDescription"] == "new"
    code, _, status, _ = error(
        iot.update_thing_group, thingGroupName=g, thingGroupProperties={"thingGroupDescription": "x"}, expectedVersion=1
    )
    assert (code, status) == ("VersionConflictException", 409)
    assert iot.describe_thing_group(thingGroupName=g)["thingGroupProperties"]["thingGroupDescription"] == "new"
    assert error(iot.delete_thing_group, thingGroupName=g, expectedVersion=1)[0] == "VersionConflictException"
    iot.delete_thing_group(thingGroupName=g, expectedVersion=2)


def test_ten_groups_per_thing(iot):
    n = name()
    iot.create_thing(thingName=n)
    groups = [name(f"g{i}") for i in range(11)]
    for g in groups:
        iot.create_thing_group(thingGroupName=g)
    for g in groups[:10]:
        iot.add_thing_to_thing_group(thingGroupName=g, thingName=n)
    code, msg, _, _ = error(iot.add_thing_to_thing_group, thingGroupName=groups[10], thingName=n)
    assert code == "InvalidRequestException" and "10 thing groups" in msg


# ---------------------------------------------------------------------------------------- tags, endpoint


def test_tags(iot):
    g = name("group")
    arn = iot.create_thing_group(thingGroupName=g)["thingGroupArn"]
    iot.tag_resource(resourceArn=arn, tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iot.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert iot.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "b", "Value": "2"}]
    ghost = arn.replace(g, "ghost-group")
    assert error(iot.tag_resource, resourceArn=ghost, tags=[{"Key": "a", "Value": "1"}])[0] == "ResourceNotFoundException"
    assert error(iot.list_tags_for_resource, resourceArn="not-an-arn")[0] == "InvalidRequestException"
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    code, msg, _, _ = error(iot.tag_resource, resourceArn=arn, tags=many)
    assert code == "InvalidRequestException" and "at most 50" in msg
    assert iot.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "b", "Value": "2"}]


@pytest.mark.parametrize("endpoint_type", [None, "iot:Data-ATS", "iot:Data", "iot:Jobs", "iot:CredentialProvider"])
def test_describe_endpoint(iot, endpoint_type):
    kwargs = {"endpointType": endpoint_type} if endpoint_type else {}
    assert iot.describe_endpoint(**kwargs)["endpointAddress"] == "localhost"


def test_describe_endpoint_rejects_unknown_type(iot):
    code, msg, _, _ = error(iot.describe_endpoint, endpointType="iot:Nope")
    assert code == "InvalidRequestException" and "iot:Data-ATS" in msg


# ---------------------------------------------------------------------------------------- raw HTTP


def raw(server, method, path, body=None, headers=None):
    req = urllib.request.Request(server.api + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as res:
            return res.status, res.headers, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_malformed_json_is_an_aws_error_and_changes_nothing(server):
    n = name()
    status, headers, body = raw(server, "POST", f"/things/{n}", b'{"attributePayload": {"attributes": ')
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "InvalidRequestException"
    assert "not valid JSON" in json.loads(body)["message"]
    status, _, _ = raw(server, "GET", f"/things/{n}")
    assert status == 404
    status, headers, body = raw(server, "POST", f"/things/{n}", b'{"attributePayload": {"attributes": {"a": 5}}}')
    assert status == 400 and headers["x-amzn-ErrorType"] == "InvalidRequestException"


def test_unknown_operation_and_foreign_service(server):
    status, headers, body = raw(server, "GET", "/no-such-api")
    assert status == 404 and headers["x-amzn-ErrorType"] == "UnknownOperationException"
    auth = "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x"
    status, headers, body = raw(server, "GET", "/things", headers={"Authorization": auth})
    assert status == 400 and "s3" in json.loads(body)["message"]


# ---------------------------------------------------------------------------------------- AWS CLI


def test_aws_cli_tour(server):
    n = name("lamp")
    out = server.aws("iot", "create-thing", "--thing-name", n, "--attribute-payload", '{"attributes":{"room":"hall"}}')
    assert out["thingName"] == n
    assert server.aws("iot", "describe-thing", "--thing-name", n)["attributes"] == {"room": "hall"}
    listed = server.aws("iot", "list-things", "--attribute-name", "room", "--attribute-value", "hall", "--page-size", "1")
    assert n in [t["thingName"] for t in listed["things"]]
    res = server.aws("iot", "describe-thing", "--thing-name", "ghost-thing", check=False)
    assert res.returncode != 0 and "ResourceNotFoundException" in res.stderr
    server.aws("iot", "delete-thing", "--thing-name", n)
