"""The AWS IoT Device SDK v2 samples' flows, with the samples' own builder calls, ports and topics,
after `thingbox trust` (they take no CA): MQTT 5 over mutual TLS on port 443 with ALPN
(mqtt5_x509.py), MQTT 5 over wss://…:443/mqtt signed with SigV4 (mqtt5_aws_websocket.py),
fleet provisioning by claim on 8883, basic and CSR (fleet_provisioning_*.py), and the shadow and
jobs service clients on 8883 (shadow.py, jobs.py). Root only: it changes
the system trust store and binds ports 443 and 8883."""

import json
import os
import subprocess
import uuid
from concurrent.futures import Future

import pytest

from conftest import BIN, Server
from mqtt_helpers import Device
from test_provisioning import claim, make_template

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changes the system trust store and binds port 443")


@pytest.fixture(scope="module")
def sample_server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("samples"), "--https-port", "443", "--mqtt-tls-port", "8883").start()
    try:  # a failed check must not leave the server holding 443 and 8883 for the next run
        assert (s.endpoints["https"] or "").endswith(":443"), f"port 443 is not Thingbox's: {s.endpoints}"
        res = subprocess.run([str(BIN), "trust", "--data-dir", str(s.data_dir)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    except BaseException:
        s.stop()
        raise
    yield s
    subprocess.run([str(BIN), "trust", "--data-dir", str(s.data_dir), "--uninstall"], capture_output=True)
    assert s.stop() == 0


def lifecycle():
    """Connection-success / stopped futures and the callbacks the samples pass."""
    from awscrt import mqtt5

    connected, stopped, received = Future(), Future(), []

    def on_success(_):
        if not connected.done():
            connected.set_result(True)

    def on_failure(e):
        if not connected.done():
            connected.set_exception(Exception(f"connection failed: {e.exception}"))

    callbacks = dict(
        on_lifecycle_connection_success=on_success,
        on_lifecycle_connection_failure=on_failure,
        on_lifecycle_stopped=lambda _: stopped.set_result(True),
        on_publish_received=lambda data: received.append(data.publish_packet),
    )
    return connected, stopped, received, callbacks, mqtt5


def pubsub(client, mqtt5, received, topic):
    client.subscribe(mqtt5.SubscribePacket(subscriptions=[mqtt5.Subscription(topic_filter=topic, qos=mqtt5.QoS.AT_LEAST_ONCE)])).result(10)
    for i in range(3):
        client.publish(mqtt5.PublishPacket(topic=topic, payload=f"Hello [{i}]", qos=mqtt5.QoS.AT_LEAST_ONCE)).result(10)
    from conftest import wait_for
    wait_for(lambda: len(received) >= 3, what="the three messages back")
    assert [bytes(p.payload).decode() for p in received] == ["Hello [0]", "Hello [1]", "Hello [2]"]


def test_mqtt5_x509_on_port_443(sample_server, tmp_path):
    from awsiot import mqtt5_client_builder

    iot = sample_server.client("iot")
    device = Device(iot, tmp_path)
    connected, stopped, received, callbacks, mqtt5 = lifecycle()
    # mqtt5_x509.py's call: no port, so the SDK picks 443 with ALPN x-amzn-mqtt-ca on Linux.
    client = mqtt5_client_builder.mtls_from_path(
        endpoint="localhost", cert_filepath=str(device.cert), pri_key_filepath=str(device.key),
        client_id=f"mqtt5-sample-{uuid.uuid4().hex[:8]}", **callbacks)
    client.start()
    connected.result(15)
    pubsub(client, mqtt5, received, f"test/topic/{uuid.uuid4().hex[:6]}")
    client.stop()
    stopped.result(10)


def test_mqtt5_websocket_with_sigv4(sample_server):
    from awscrt import auth
    from awsiot import mqtt5_client_builder

    connected, stopped, received, callbacks, mqtt5 = lifecycle()
    creds = auth.AwsCredentialsProvider.new_static("AKIDSAMPLEWS", "secret")
    client = mqtt5_client_builder.websockets_with_default_aws_signing(
        endpoint="localhost", region="us-east-1", credentials_provider=creds,
        client_id=f"mqtt5-sample-{uuid.uuid4().hex[:8]}", **callbacks)
    client.start()
    connected.result(15)
    pubsub(client, mqtt5, received, f"test/topic/{uuid.uuid4().hex[:6]}")
    client.stop()
    stopped.result(10)


def identity_client(claim_dev):
    from awscrt import mqtt_request_response
    from awsiot import iotidentity, mqtt5_client_builder

    connected, stopped, _, callbacks, mqtt5 = lifecycle()
    callbacks.pop("on_publish_received")
    client = mqtt5_client_builder.mtls_from_path(
        endpoint="localhost", port=8883, connect_options=mqtt5.ConnectPacket(client_id="mqtt5-sample-" + uuid.uuid4().hex),
        cert_filepath=str(claim_dev.cert), pri_key_filepath=str(claim_dev.key), clean_session=True, keep_alive_secs=1200,
        **callbacks)
    client.start()
    options = mqtt_request_response.ClientOptions(max_request_response_subscriptions=2, max_streaming_subscriptions=0,
                                                  operation_timeout_in_seconds=30)
    identity = iotidentity.IotIdentityClientV2(client, options)
    connected.result(15)
    return client, stopped, identity, iotidentity


def test_fleet_provisioning_basic_and_csr(sample_server, tmp_path):
    import awsiot
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    iot = sample_server.client("iot")
    template = make_template(iot)
    _, claim_dev = claim(iot, template, tmp_path)
    client, stopped, identity, iotidentity = identity_client(claim_dev)

    keys = identity.create_keys_and_certificate(iotidentity.CreateKeysAndCertificateRequest()).result(30)
    assert keys.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    with pytest.raises(awsiot.V2ServiceException) as bad:
        identity.register_thing(iotidentity.RegisterThingRequest(
            template_name=template, certificate_ownership_token="not-a-token", parameters={"SerialNumber": "1"})).result(30)
    assert bad.value.modeled_error.error_code == "InvalidCertificateOwnershipToken"
    serial = uuid.uuid4().hex[:8]
    done = identity.register_thing(iotidentity.RegisterThingRequest(
        template_name=template, certificate_ownership_token=keys.certificate_ownership_token,
        parameters={"SerialNumber": serial, "DeviceLocation": "Seattle"})).result(30)
    assert done.thing_name == f"ThingPrefix_{serial}"
    assert done.device_configuration == {"FallbackUrl": "https://www.example.com/test-site", "LocationUrl": "https://example.aws"}

    # fleet_provisioning_csr.py: the CSR file's PEM, sent as it is.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sample-device")])).sign(key, hashes.SHA256()))
    from_csr = identity.create_certificate_from_csr(iotidentity.CreateCertificateFromCsrRequest(
        certificate_signing_request=csr.public_bytes(serialization.Encoding.PEM).decode())).result(30)
    serial2 = uuid.uuid4().hex[:8]
    done = identity.register_thing(iotidentity.RegisterThingRequest(
        template_name=template, certificate_ownership_token=from_csr.certificate_ownership_token,
        parameters={"SerialNumber": serial2, "DeviceLocation": "Seattle"})).result(30)
    assert done.thing_name == f"ThingPrefix_{serial2}"
    desc = iot.describe_certificate(certificateId=from_csr.certificate_id)["certificateDescription"]
    assert desc["status"] == "ACTIVE"
    assert json.loads(json.dumps(iot.list_thing_principals(thingName=done.thing_name)["principals"])) == [desc["certificateArn"]]
    client.stop()
    stopped.result(10)


def service_client(device, make, streams=2):
    """The samples' MQTT 5 client on 8883 and a request-response service client over it."""
    from awscrt import mqtt_request_response
    from awsiot import mqtt5_client_builder

    connected, stopped, _, callbacks, mqtt5 = lifecycle()
    callbacks.pop("on_publish_received")
    client = mqtt5_client_builder.mtls_from_path(
        endpoint="localhost", port=8883, cert_filepath=str(device.cert), pri_key_filepath=str(device.key),
        clean_session=True, keep_alive_secs=1200, **callbacks)
    client.start()
    options = mqtt_request_response.ClientOptions(max_request_response_subscriptions=2,
                                                  max_streaming_subscriptions=streams, operation_timeout_in_seconds=30)
    service = make(client, options)
    connected.result(15)
    return client, stopped, service


def test_shadow_sample_flow(sample_server, tmp_path):
    import awsiot
    from awsiot import iotshadow
    from conftest import wait_for

    iot = sample_server.client("iot")
    thing = f"lamp-{uuid.uuid4().hex[:6]}"
    iot.create_thing(thingName=thing)
    client, stopped, shadow = service_client(Device(iot, tmp_path), iotshadow.IotShadowClientV2)
    deltas, ready = [], Future()

    def status(event):
        from awscrt.mqtt_request_response import SubscriptionStatusEventType

        if event.type == SubscriptionStatusEventType.SUBSCRIPTION_ESTABLISHED and not ready.done():
            ready.set_result(True)

    stream = shadow.create_shadow_delta_updated_stream(
        iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing),
        awsiot.ServiceStreamOptions(deltas.append, subscription_status_listener=status))
    stream.open()
    ready.result(15)
    with pytest.raises(awsiot.V2ServiceException) as missing:
        shadow.get_shadow(iotshadow.GetShadowRequest(thing_name=thing)).result(30)
    assert missing.value.modeled_error.code == 404
    r = shadow.update_shadow(iotshadow.UpdateShadowRequest(
        thing_name=thing, state=iotshadow.ShadowState(desired={"on": True}))).result(30)
    assert r.state.desired == {"on": True}
    wait_for(lambda: deltas, what="the delta event")
    assert deltas[0].state == {"on": True}
    shadow.update_shadow(iotshadow.UpdateShadowRequest(
        thing_name=thing, state=iotshadow.ShadowState(reported={"on": True}))).result(30)
    got = shadow.get_shadow(iotshadow.GetShadowRequest(thing_name=thing)).result(30)
    assert got.state.reported == {"on": True} and got.state.delta is None
    shadow.delete_shadow(iotshadow.DeleteShadowRequest(thing_name=thing)).result(30)
    client.stop()
    stopped.result(10)


def test_jobs_sample_flow(sample_server, tmp_path):
    import awsiot
    from awsiot import iotjobs
    from conftest import wait_for

    iot = sample_server.client("iot")
    thing = f"lamp-{uuid.uuid4().hex[:6]}"
    arn = iot.create_thing(thingName=thing)["thingArn"]
    job = f"reboot-{uuid.uuid4().hex[:6]}"
    iot.create_job(jobId=job, targets=[arn], document='{"operation":"reboot"}')
    client, stopped, jobs = service_client(Device(iot, tmp_path), iotjobs.IotJobsClientV2)
    pending = jobs.get_pending_job_executions(iotjobs.GetPendingJobExecutionsRequest(thing_name=thing)).result(30)
    assert [j.job_id for j in pending.queued_jobs] == [job]
    started = jobs.start_next_pending_job_execution(
        iotjobs.StartNextPendingJobExecutionRequest(thing_name=thing)).result(30)
    assert (started.execution.job_id, started.execution.status) == (job, "IN_PROGRESS")
    assert started.execution.job_document == {"operation": "reboot"}
    described = jobs.describe_job_execution(iotjobs.DescribeJobExecutionRequest(job_id=job, thing_name=thing)).result(30)
    assert described.execution.status == "IN_PROGRESS"
    jobs.update_job_execution(iotjobs.UpdateJobExecutionRequest(thing_name=thing, job_id=job, status="SUCCEEDED")).result(30)
    # As on AWS, a finished execution is no longer described over MQTT.
    with pytest.raises(awsiot.V2ServiceException) as terminal:
        jobs.describe_job_execution(iotjobs.DescribeJobExecutionRequest(job_id=job, thing_name=thing)).result(30)
    assert terminal.value.modeled_error.code == "TerminalStateReached"
    wait_for(lambda: iot.describe_job(jobId=job)["job"]["status"] == "COMPLETED", what="the job COMPLETED")
    client.stop()
    stopped.result(10)
