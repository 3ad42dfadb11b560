"""End-to-end: security events reach the platform's bus. Real writes through the API
(over HTTP, through `cargo lambda watch`), the table's stream in DynamoDB Local, the real
`publish-events` binary invoked as Lambda would invoke it (scripts/stream_pump.py,
which `make dev` runs too), moto's EventBridge, and an EventBridge rule delivering to
an SQS queue that the test reads.

Run by `make test` (which starts DynamoDB Local, moto and the API and sets API_URL,
API_PORT, TABLE_NAME, the per-service AWS_ENDPOINT_URL_* and the token settings)."""

import json
import os
import re
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from mint_token import mint  # noqa: E402
from stream_pump import Pump  # noqa: E402
from test_routes import FIREFOX, call  # noqa: E402  (its log test checks our tokens too)

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
API_LOG = os.environ.get("API_LOG")
SOURCE = "flashback.device-sessions"
TTL_SERVICE = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


@pytest.fixture
def pump():
    pump = Pump()
    # As Lambda's StartingPosition LATEST: only what this test writes from now on.
    pump.skip_to_end()
    return pump


@pytest.fixture
def user():
    return f"e2e-events-{uuid.uuid4().hex}"


@pytest.fixture
def bus_queue(user):
    """An SQS queue receiving, through a rule on the default bus, this service's
    events about `user`. Yields a function that reads everything delivered so far."""
    # moto, through AWS_ENDPOINT_URL_EVENTBRIDGE and AWS_ENDPOINT_URL_SQS.
    events = boto3.client("events")
    sqs = boto3.client("sqs")
    name = f"e2e-events-{uuid.uuid4().hex[:16]}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # The rule a consumer writes (source), narrowed to this test's user: other tests'
    # events go through the same bus.
    pattern = {"source": [SOURCE], "detail": {"userId": [user]}}
    events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])

    def received():
        messages = []
        while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
            messages += [json.loads(m["Body"]) for m in batch]
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )
        return messages

    yield received
    events.remove_targets(Rule=name, Ids=["queue"])
    events.delete_rule(Name=name)
    sqs.delete_queue(QueueUrl=queue_url)


def put_event_item(user, event_type="DEVICE_TRUSTED"):
    """A security event written straight into the table, exactly as the module doc of
    the store lays the item out (shared/src/store/codec.rs) (no route writes it this way)."""
    event_id = uuid.uuid4().hex
    millis = int(time.time() * 1000)
    device = str(uuid.uuid4())
    item = {
        "PK": {"S": f"EVENTS#{user}"},
        "SK": {"S": f"{millis:013d}#{event_id}"},
        "eventId": {"S": event_id},
        "userId": {"S": user},
        "type": {"S": event_type},
        "actorType": {"S": "SERVICE"},
        "actorId": {"S": "arn:aws:iam::123456789012:role/fraud"},
        "targetType": {"S": "DEVICE"},
        "targetId": {"S": device},
        "deviceId": {"S": device},
        "count": {"N": "0"},
        "at": {"N": str(millis // 1000)},
        "ttl": {"N": str(millis // 1000 + 90 * 86400)},
    }
    dynamodb = boto3.client("dynamodb", endpoint_url=ENDPOINT)
    dynamodb.put_item(TableName=os.environ["TABLE_NAME"], Item=item, ConditionExpression="attribute_not_exists(PK)")
    return {
        "id": event_id,
        "userId": user,
        "type": event_type,
        "reason": None,
        "actor": {"type": "SERVICE", "id": "arn:aws:iam::123456789012:role/fraud"},
        "target": {"type": "DEVICE", "id": device},
        "deviceId": device,
        "count": 0,
        "sourceIp": None,
        "userAgent": None,
        "location": None,
        "occurredAt": rfc3339_millis(millis),
    }


def rfc3339_millis(millis):
    """The view's time: RFC 3339 UTC, fraction only when there is one (Rust's `time`)."""
    moment = datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{millis % 1000:03d}".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


def seconds(value):
    """The envelope's `time`: RFC 3339 on AWS; moto passes on the epoch seconds the SDK sent."""
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def published_lines():
    """What publish-events logged: one JSON line per published event."""
    assert API_LOG, "make test sets API_LOG"
    lines = [line[line.index("{"):] for line in Path(API_LOG).read_text().splitlines() if '"published"' in line]
    return [json.loads(line) for line in lines]


def check_envelope(message, view):
    assert message["source"] == SOURCE
    assert message["detail-type"] == view["type"]
    detail = dict(message["detail"])
    # A new-device sign-in adds its "This wasn't me" link, which the log never shows
    # (docs/report-link.md); any other event is exactly its view.
    link = detail.pop("reportLink", None), detail.pop("reportLinkExpiresAt", None)
    assert all(link) == (view["type"] == "NEW_DEVICE_SIGN_IN"), message
    assert "reportLink" not in view
    assert detail == view, "the bus carries what GET /security-events shows"
    occurred = datetime.fromisoformat(view["occurredAt"].replace("Z", "+00:00")).timestamp()
    assert abs(seconds(message["time"]) - occurred) < 1, (message["time"], view["occurredAt"])


def test_every_security_event_arrives_on_the_bus_once(pump, user, bus_queue):
    # 1. One event written straight into the table (the documented item format).
    direct = put_event_item(user)

    # 2. Real writes through the API: sign in on two devices, trust one, revoke the
    #    other's session from the first.
    laptop_token = mint(user, "laptop-session")
    phone_token = mint(user, "phone-session")
    status, body, _ = call("POST", "/sessions", laptop_token, {"fingerprint": f"laptop-{user}"})
    assert status == 201, body
    status, body, _ = call("POST", "/sessions", phone_token, {"fingerprint": f"phone-{user}"})
    assert status == 201, body
    status, body, _ = call("POST", "/devices/trust", laptop_token, {"fingerprint": f"laptop-{user}"})
    assert status == 200, body
    status, body, _ = call("POST", "/sessions/phone-session/revoke", laptop_token)
    assert status == 200, body
    status, body, _ = call("GET", "/security-events?limit=100", laptop_token)
    assert status == 200, body
    listed = body["events"]

    # 3. The stream, through the real consumer, onto moto's bus, into the queue.
    pump.drain()
    messages = bus_queue()
    by_id = {}
    for message in messages:
        by_id.setdefault(message["detail"]["id"], []).append(message)
    assert all(len(copies) == 1 for copies in by_id.values()), "one EventBridge event per security event"

    # The event written directly: published as its view, with its type and time.
    assert direct["id"] in by_id, messages
    check_envelope(by_id[direct["id"]][0], direct)
    assert direct in listed, "the list and the bus agree on the directly written event"

    # Depends on the routes writing their events (sign-in, trust, revoke): every event
    # the API lists arrived, exactly as listed, and nothing else did.
    written = [e for e in listed if e["id"] != direct["id"]]
    assert [e["type"] for e in written] == [
        "SESSION_REVOKED",
        "DEVICE_TRUSTED",
        "NEW_DEVICE_SIGN_IN",
        "NEW_DEVICE_SIGN_IN",
    ], written
    assert written[0]["target"] == {"type": "SESSION", "id": "phone-session"}
    assert written[0]["userAgent"] == FIREFOX
    for view in listed:
        assert view["id"] in by_id, (view, messages)
        check_envelope(by_id[view["id"]][0], view)
    assert set(by_id) == {view["id"] for view in listed}
    assert len(messages) == len(listed)

    # One log line per published event: type, id, user; never the IP or User-Agent.
    logged = {line["fields"]["event_id"]: line["fields"] for line in published_lines()}
    for view in listed:
        assert logged[view["id"]]["event_type"] == view["type"]
        assert logged[view["id"]]["user"] == user
    log = Path(API_LOG).read_text()
    for line in log.splitlines():
        if '"published"' in line:
            assert FIREFOX not in line and "sourceIp" not in line and "user_agent" not in line, line

    # The filter let only the event items through to the function: the sign-ins'
    # session, device, account and budget items never reached it.
    sent = [r for event, _ in pump.invocations for r in event["Records"]]
    assert sent and all(r["dynamodb"]["Keys"]["PK"]["S"].startswith("EVENTS#") for r in sent)

    # Published at least once: the same records again publish the same ids, nothing new.
    answer = pump.invoke(sent)
    assert answer == {"batchItemFailures": []}
    again = bus_queue()
    assert sorted(m["detail"]["id"] for m in again) == sorted(by_id)


def test_a_session_removed_by_ttl_is_published_late_as_expired(pump, user, bus_queue):
    token = mint(user, "tablet-session")
    status, body, _ = call("POST", "/sessions", token, {"fingerprint": f"tablet-{user}"})
    assert status == 201, body
    device = body["data"]["device"]["id"]
    dynamodb = boto3.client("dynamodb", endpoint_url=ENDPOINT)
    key = {"PK": {"S": f"USER#{user}"}, "SK": {"S": "SESSION#tablet-session"}}
    session = dynamodb.get_item(TableName=os.environ["TABLE_NAME"], Key=key, ConsistentRead=True)["Item"]
    pump.drain()
    bus_queue()

    # DynamoDB deletes by TTL within days, DynamoDB Local within seconds; no test waits
    # on either: the record DynamoDB writes when TTL deletes the item, as Lambda
    # delivers it, built from the real item and sent through the template's filter.
    removal = {
        "eventID": uuid.uuid4().hex,
        "eventName": "REMOVE",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": pump.region,
        "dynamodb": {
            "ApproximateCreationDateTime": int(time.time()),
            "Keys": key,
            "OldImage": session,
            "SequenceNumber": "900000000000000000000001",
            "SizeBytes": 300,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": pump.stream_arn,
        "userIdentity": TTL_SERVICE,
    }
    assert pump.passes(removal)
    by_a_request = {k: v for k, v in removal.items() if k != "userIdentity"}
    assert not pump.passes(by_a_request), "a deletion by a request is not an expiry"
    assert pump.invoke([removal]) == {"batchItemFailures": []}
    # Retried: the same id again.
    assert pump.invoke([removal]) == {"batchItemFailures": []}

    messages = bus_queue()
    assert len(messages) == 2 and messages[0]["detail"] == messages[1]["detail"], messages
    detail = messages[0]["detail"]
    assert messages[0]["source"] == SOURCE and messages[0]["detail-type"] == "SESSION_EXPIRED"
    assert re.fullmatch(r"[0-9a-f]{32}", detail["id"])
    expires = int(session["expiresAt"]["N"])
    assert detail == {
        "id": detail["id"],
        "userId": user,
        "type": "SESSION_EXPIRED",
        # Idle expiry comes first unless heartbeats carried it to the absolute cap.
        "reason": "IDLE_TIMEOUT",
        "actor": {"type": "SYSTEM", "id": "ttl"},
        "target": {"type": "SESSION", "id": "tablet-session"},
        "deviceId": device,
        "count": None,
        "sourceIp": None,
        "userAgent": None,
        "location": None,
        "occurredAt": datetime.fromtimestamp(expires, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
