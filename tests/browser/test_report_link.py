""""This wasn't me", end to end on the real local parts (docs/report-link.md): a sign-in
on a new device, its NEW_DEVICE_SIGN_IN event read from moto's EventBridge through a
rule into SQS, the link it carries opened in Chromium, the sign-in shown, confirmed
with the keyboard on a phone-width screen — and then that session refused with
REPORTED, the others untouched, SIGN_IN_REPORTED in the log and on the bus; a link
opened without confirming, spent, expired or made up changing nothing and showing one
"no longer valid" page; the code in no API answer, table item or log line."""

import base64
import hashlib
import hmac
import json
import os
import struct
import uuid
from datetime import datetime
from pathlib import Path

import boto3
import pytest
from playwright.sync_api import expect

from conftest import API, AXE, ROOT, Settling, call, demo_user, open_loaded
from mint_token import LOCAL_JWT_SECRET, mint
from stream_pump import Pump

SCREENSHOT = ROOT / "docs" / "not-me-page.png"
SOURCE = "flashback.device-sessions"
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0.0.0 Mobile Safari/537.36")
PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
NO_LONGER_VALID = "This link is no longer valid"


@pytest.fixture
def user():
    return f"not-me-{uuid.uuid4().hex}"


@pytest.fixture
def bus_queue(user):
    """An SQS queue that a rule on the default bus fills with this service's events
    about `user`, as a platform's notifier would have it; reads what arrived so far."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    name = f"not-me-{uuid.uuid4().hex[:16]}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, State="ENABLED",
                    EventPattern=json.dumps({"source": [SOURCE], "detail": {"userId": [user]}}))
    events.put_targets(Rule=name, Targets=[{"Id": "mailer", "Arn": arn}])

    def received():
        messages = []
        while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
            messages += [json.loads(m["Body"]) for m in batch]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])
        return messages

    yield received
    events.remove_targets(Rule=name, Ids=["mailer"])
    events.delete_rule(Name=name)
    sqs.delete_queue(QueueUrl=queue_url)


def stored(user):
    """Everything the table holds for `user`: account, events and report markers."""
    dynamodb = boto3.client("dynamodb", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"))
    items = []
    for prefix in ["USER#", "EVENTS#", "REPORTED#"]:
        items += dynamodb.query(TableName=os.environ["TABLE_NAME"], ConsistentRead=True,
                                KeyConditionExpression="PK = :pk",
                                ExpressionAttributeValues={":pk": {"S": prefix + user}})["Items"]
    return items


def expired_code(detail):
    """The code of the sign-in in `detail`, as the publisher makes it (the documented
    format, under the local stack's key) but expired a second ago."""
    key = b"flashback-local-report-key\0" + LOCAL_JWT_SECRET.encode()
    at = datetime.fromisoformat(detail["occurredAt"].replace("Z", "+00:00"))
    millis = round(at.timestamp() * 1000)
    expires = int(datetime.now().timestamp()) - 1
    event_id = bytes.fromhex(detail["id"])
    mac = hmac.new(key, b"flashback not-me link v1", hashlib.sha256)
    for part in [detail["userId"], detail["target"]["id"], detail["deviceId"]]:
        mac.update(struct.pack(">I", len(part.encode())) + part.encode())
    mac.update(struct.pack(">q", millis) + event_id + struct.pack(">q", expires))
    raw = b"\x01" + struct.pack(">q", expires) + struct.pack(">q", millis) + event_id + mac.digest()
    return base64.urlsafe_b64encode(raw + detail["userId"].encode()).rstrip(b"=").decode()


def open_link(browser, link, **options):
    """A phone-width page at `link`, settled: its details, or another state."""
    contexts = []

    def new_page():
        contexts.append(browser.new_context(**PHONE, **options))
        return contexts[-1].new_page()

    opened = open_loaded(new_page, lambda: link, ready="body[data-shown]", failed="#status:not(:empty)")
    for context in contexts[:-1]:
        context.close()
    return Settling(contexts[-1], opened), opened.page, opened.errors


def check_axe(page, state):
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    violations = [(v["id"], v["impact"], v["help"]) for v in result["violations"]]
    assert violations == [], f"{state}: {violations}"


def test_the_mailed_link_ends_exactly_the_reported_sign_in(browser, user, bus_queue):
    pump = Pump()
    pump.skip_to_end()
    owner, other, thief = (mint(user, s) for s in ["owner-laptop", "owner-phone", "thief-1"])
    for token, fingerprint in [(owner, "fp-owner-laptop"), (other, "fp-owner-phone")]:
        status, body = call("POST", "/sessions", token, {"fingerprint": fingerprint})
        assert status == 201, body
    status, body = demo_user.call(API, "POST", "/sessions", thief, {
        "fingerprint": "fp-thief", "geolocation": {"country": "Portugal", "city": "Porto"}}, ANDROID)
    assert status == 201, body
    thief_device = body["data"]["device"]["id"]

    # The notifier's side: the event, through moto's bus and a rule, into the queue.
    pump.drain()
    messages = bus_queue()
    signed_in = [m for m in messages if m["detail-type"] == "NEW_DEVICE_SIGN_IN"
                 and m["detail"]["target"]["id"] == "thief-1"]
    assert len(signed_in) == 1, messages
    detail = signed_in[0]["detail"]
    link = detail["reportLink"]
    assert link.startswith(f"{API}/account/not-me#"), link
    code = link.split("#", 1)[1]
    assert all("reportLink" not in m["detail"] for m in messages if m["detail-type"] != "NEW_DEVICE_SIGN_IN")

    # Opened (a mail scanner, or the owner not yet sure): it shows the sign-in and
    # changes nothing.
    before = stored(user)
    context, page, errors = open_link(browser, link)
    expect(page.locator("#title")).to_have_text("Was this you?")
    expect(page.locator("#device")).to_have_text("Chrome on Android")
    expect(page.locator("#software")).to_have_text("Android, Chrome")
    expect(page.locator("#place")).to_have_text("Porto, Portugal")
    expect(page.locator("#address")).to_have_text("127.0.0.1")
    assert page.url == f"{API}/account/not-me", "the code left the address bar"
    assert page.locator("input, form, a[href]").count() == 0, "nothing asks for a credential"
    context.close()
    assert errors == []
    assert stored(user) == before, "opening the link changed the table"
    status, body = call("GET", "/sessions/current", thief)
    assert status == 200, body

    # The owner, on a phone, with the keyboard only: Tab to the button, Enter.
    context, page, errors = open_link(browser, link, bypass_csp=True)  # to inject axe-core only
    expect(page.locator("#title")).to_have_text("Was this you?")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "fits a phone"
    check_axe(page, "details")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "confirm":
            break
    else:
        pytest.fail("the button is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#title")).to_have_text("That device is signed out")
    expect(page.locator("#done")).to_contain_text("Change it now")
    assert page.evaluate("document.activeElement.id") == "title", "focus moves to the result"
    check_axe(page, "done")
    page.screenshot(path=SCREENSHOT, full_page=True)
    context.close()
    assert errors == []

    # That session is over, for that reason; the owner's are not; the device is gone.
    status, body = call("GET", "/sessions/current", thief)
    assert (status, body.get("reason")) == (401, "REPORTED"), body
    for token in [owner, other]:
        status, body = call("GET", "/sessions/current", token)
        assert status == 200, body
    status, body = call("GET", "/devices", owner)
    assert status == 200 and thief_device not in {d["id"] for d in body["devices"]}, body
    status, log = call("GET", "/security-events?limit=100", owner)
    assert status == 200, log
    reported = [e for e in log["events"] if e["type"] == "SIGN_IN_REPORTED"]
    assert len(reported) == 1 and reported[0]["target"] == {"type": "SESSION", "id": "thief-1"}, log
    assert reported[0]["deviceId"] == thief_device
    assert code not in json.dumps(log) and "reportLink" not in json.dumps(log)
    # …and on the bus, for the platform to act on.
    pump.drain()
    published = [m for m in bus_queue() if m["detail-type"] == "SIGN_IN_REPORTED"]
    assert [m["detail"]["id"] for m in published] == [reported[0]["id"]]

    # The same link again, an expired one, a made-up one: one page, and nothing changes.
    after = stored(user)
    shown = []
    for bad in [link, f"{API}/account/not-me#{expired_code(detail)}",
                f"{API}/account/not-me#{base64.urlsafe_b64encode(os.urandom(96)).decode().rstrip('=')}",
                f"{API}/account/not-me"]:
        context, page, errors = open_link(browser, bad)
        expect(page.locator("#title")).to_have_text(NO_LONGER_VALID)
        shown.append(page.locator("main").inner_text())
        context.close()
        assert all(e.startswith("Failed to load resource") for e in errors), errors
    assert all(text == shown[0] for text in shown), shown
    assert stored(user) == after

    # The code is in no table item and no log line of the run.
    assert code not in json.dumps(stored(user))
    log_file = os.environ.get("API_LOG")
    assert log_file, "make test sets API_LOG"
    assert code not in Path(log_file).read_text()
