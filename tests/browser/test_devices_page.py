"""The "Your devices" page as a person meets it: what it lists is what the API holds,
each action changes what the API returns, errors render as the envelope says, and it
works with a keyboard, a screen reader's view of it (axe-core) and a phone's width."""

import base64
import json
import os
import re
import time
import urllib.request

import boto3
from playwright.sync_api import expect

from conftest import API, AXE, ROOT, call
from mint_token import mint

SCREENSHOT = ROOT / "docs" / "devices-page.png"


def devices(token):
    status, body = call("GET", "/devices", token)
    assert status == 200, body
    return {d["id"]: d for d in body["devices"]}


def sessions(token):
    status, body = call("GET", "/sessions", token)
    assert status == 200, body
    return {s["id"]: s for s in body["sessions"]}


def confirm(page, action):
    page.get_by_role("dialog").get_by_role("button", name=action, exact=True).click()


def test_the_page_lists_what_the_api_holds(open_page, account):
    token, fingerprint, laptop = account["laptop"]
    opened = open_page(token, fingerprint, viewport={"width": 1100, "height": 1000})
    page = opened.page
    held = devices(token)
    assert page.locator("#devices > li").count() == len(held) == 4
    for device in held.values():
        card = page.locator(f'#devices [data-device-id="{device["id"]}"]')
        for shown in [device["deviceName"], device["os"], device["browser"], device["city"], device["country"]]:
            expect(card).to_contain_text(shown)
    this = page.locator(f'#devices [data-device-id="{laptop}"]')
    expect(this).to_contain_text("This device")
    expect(this).to_contain_text("Trusted until")
    expect(page.locator(f'#devices [data-device-id="{account["desktop"][2]}"] h3')).to_have_text("Home PC")
    listed = [s.get_attribute("data-session-id") for s in page.locator("#sessions > li").all()]
    assert sorted(listed) == sorted(sessions(token)) and listed[0] == "laptop"
    expect(page.locator('#sessions [data-session-id="laptop"]')).to_contain_text("This session")
    # The security log, newest first, as the API holds it.
    status, log = call("GET", "/security-events?limit=10", token)
    assert status == 200, log
    shown = [item.get_attribute("data-event-type") for item in page.locator("#activity > li").all()]
    assert shown == [event["type"] for event in log["events"]] and shown[0] == "DEVICE_RENAMED"
    # The code left the address bar; nothing was asked of any other origin.
    assert page.url == f"{API}/account/devices"
    assert opened.requested == {API}

    page.screenshot(path=SCREENSHOT)
    metrics = page.evaluate("""() => ({
        bytes: performance.getEntriesByType("navigation")[0].encodedBodySize,
        firstContentfulPaintMs: performance.getEntriesByName("first-contentful-paint")[0]?.startTime,
        devicesShownMs: performance.getEntriesByName("devices-loaded")[0]?.startTime,
    })""")
    assert metrics["bytes"] > 0 and metrics["devicesShownMs"] > 0
    if os.environ.get("PAGE_METRICS"):
        with open(os.environ["PAGE_METRICS"], "a") as out:
            out.write(json.dumps({"page": metrics}) + "\n")


def test_a_name_is_text_never_markup(open_page, account):
    """Whatever a session named its device (a thief's session included)."""
    tablet_token, _, tablet = account["tablet"]
    markup = '<img src=x onerror="document.title=1">Tablet'
    status, body = call("PATCH", f"/devices/{tablet}", tablet_token, {"deviceName": markup})
    assert status == 200, body
    page = open_page(*account["laptop"][:2]).page
    expect(page.locator(f'#devices [data-device-id="{tablet}"] h3')).to_have_text(markup)
    expect(page.locator(f'#sessions [data-session-id="tablet"] h3')).to_have_text(markup)
    assert page.locator("main img").count() == 0 and page.title() == "Your devices"


def test_each_action_changes_what_the_api_returns(open_page, account):
    token, fingerprint, laptop = account["laptop"]
    opened = open_page(token, fingerprint)
    page, notice = opened.page, opened.page.locator("#notice")

    page.get_by_role("button", name="Rename Home PC").click()
    dialog = page.get_by_role("dialog", name="Rename device")
    dialog.get_by_label("Device name").fill("Gaming PC")
    dialog.get_by_role("button", name="Save name").click()
    expect(notice).to_have_text("Renamed to Gaming PC.")
    assert devices(token)[account["desktop"][2]]["deviceName"] == "Gaming PC"
    expect(page.locator(f'#devices [data-device-id="{account["desktop"][2]}"] h3')).to_have_text("Gaming PC")
    expect(page.locator("#activity > li").first).to_contain_text("Device renamed · Gaming PC · from this session")

    page.get_by_role("button", name="Sign out the session on Safari on iPadOS").click()
    confirm(page, "Sign out")
    expect(notice).to_have_text("Session signed out.")
    assert "tablet" not in sessions(token)
    expect(page.locator('#sessions [data-session-id="tablet"]')).to_have_count(0)

    phone = account["phone"][2]
    page.get_by_role("button", name="Remove Safari on iOS").click()
    confirm(page, "Remove device")
    expect(notice).to_contain_text("Safari on iOS was removed; 1 session(s) signed out.")
    assert phone not in devices(token)
    expect(page.locator(f'#devices [data-device-id="{phone}"]')).to_have_count(0)

    page.get_by_role("button", name="Sign out everywhere else").click()
    confirm(page, "Sign out others")
    expect(notice).to_have_text("Signed out 1 other session(s).")
    assert list(sessions(token)) == ["laptop"]

    # Untrusting this device signs its sessions out, the page's own included.
    page.get_by_role("button", name="Untrust Chrome on macOS").click()
    confirm(page, "Untrust")
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    expect(page.locator("#signed-out-reason")).to_contain_text("Trust was removed from this device")
    opened.expected_failures = 3  # the page's next read, its three calls 401
    again = mint(token_user(token), "laptop-again")
    status, body = call("POST", "/sessions", again, {"fingerprint": fingerprint})
    assert status == 201, body
    assert devices(again)[laptop]["trustLevel"] == "LOW"


def test_trust_this_device(open_page, account):
    token, fingerprint, desktop = account["desktop"]
    page = open_page(token, fingerprint).page
    card = page.locator(f'#devices [data-device-id="{desktop}"]')
    expect(card).to_contain_text("Not trusted")
    page.get_by_role("button", name="Trust this device").click()
    expect(page.locator("#notice")).to_contain_text("This device is trusted until")
    assert devices(token)[desktop]["isTrusted"] is True
    expect(card).to_contain_text("Trusted until")


def test_lapsed_trust_is_shown_as_such(open_page, account):
    """Trust that ran out: the table holds it as trusted with an expiry in the past (a
    month-long trust period cannot pass in a test, so the expiry is moved back in the
    emulator itself); the API reports MEDIUM, the page says it lapsed and offers trust
    again."""
    token, fingerprint, laptop = account["laptop"]
    table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    table.update_item(Key={"PK": f"USER#{token_user(token)}", "SK": f"DEVICE#{laptop}"},
                      UpdateExpression="SET trustExpiresAt = :past",
                      ExpressionAttributeValues={":past": int(time.time()) - 3600})
    assert devices(token)[laptop]["trustLevel"] == "MEDIUM"
    page = open_page(token, fingerprint).page
    card = page.locator(f'#devices [data-device-id="{laptop}"]')
    expect(card).to_contain_text("Trust lapsed")
    expect(card.get_by_role("button", name="Trust this device")).to_be_visible()


def test_signing_out_this_session_shows_the_signed_out_state(open_page, account):
    token, fingerprint, _ = account["laptop"]
    page = open_page(token, fingerprint).page
    page.get_by_role("button", name="Sign out this session").click()
    confirm(page, "Sign out")
    expect(page.get_by_role("heading", name="You are signed out")).to_be_focused()
    assert page.evaluate("sessionStorage.length") == 0, "the ended session's token is forgotten"
    status, body = call("GET", "/sessions/current", token)
    assert status == 401 and body["reason"] == "REVOKED", body

    # Ended elsewhere: the page's next call says why.
    phone_token = account["phone"][0]
    opened = open_page(phone_token)
    status, body = call("POST", "/sessions/phone/revoke", account["desktop"][0])
    assert status == 200, body
    opened.page.get_by_role("button", name="Refresh").click()
    expect(opened.page.locator("#signed-out-reason")).to_have_text(
        "This session was signed out from one of your sessions.")
    opened.expected_failures = 3  # the refresh's three calls, all 401


def test_errors_render_as_the_envelope_says(open_page, account):
    expect(open_page(None).page.locator("#signed-out-reason")).to_contain_text(
        "This page was opened without a sign-in. Open it from your account menu")
    # A link whose code is unknown (or used, or expired: one answer), and the old form
    # that carried the token itself, which the page no longer reads.
    made_up = open_page(None, url=f"{API}/account/devices#code={'A' * 43}")
    expect(made_up.page.locator("#signed-out-reason")).to_have_text(
        "This link has expired or was already used. Open this page again from your account menu.")
    made_up.expected_failures = 1
    assert made_up.page.url == f"{API}/account/devices"
    old_form = open_page(None, url=f"{API}/account/devices#token={account['laptop'][0]}")
    expect(old_form.page.locator("#signed-out-reason")).to_contain_text("opened without a sign-in")
    assert old_form.page.url == f"{API}/account/devices"

    token, fingerprint, laptop = account["laptop"]
    opened = open_page(token, fingerprint)
    page, problem = opened.page, opened.page.locator("#problem")

    # 400: an invisible character in a name, refused with the API's own words.
    status, refused = call("PATCH", f"/devices/{laptop}", token, {"deviceName": "Work\u200blaptop"})
    assert status == 400, refused
    page.get_by_role("button", name="Rename Chrome on macOS").click()
    page.get_by_label("Device name").fill("Work\u200blaptop")
    page.get_by_role("button", name="Save name").click()
    expect(problem).to_have_text(refused["error"])

    # 404: a device removed elsewhere since the page was drawn.
    tablet = account["tablet"][2]
    status, body = call("DELETE", f"/devices/{tablet}", account["desktop"][0])
    assert status == 200, body
    page.get_by_role("button", name="Rename Safari on iPadOS").click()
    page.get_by_label("Device name").fill("Old tablet")
    page.get_by_role("button", name="Save name").click()
    expect(problem).to_have_text("Device not found")

    # 429: the session's trust budget spent, the page says when to retry.
    for _ in range(200):
        status, body = call("POST", "/devices/trust", token, {"fingerprint": fingerprint})
        if status == 429:
            break
        assert status == 200, body
    assert status == 429, "the budget never ran out"
    page.get_by_role("button", name="Renew trust").click()
    expect(problem).to_have_text(re.compile(r"Too many changes in a short time\. Try again in \d+ seconds?\."))
    opened.expected_failures = 3

    # Step-up: a sign-in older than STEP_UP_MAX_AGE_SECONDS cannot remove a device.
    stale = mint(token_user(token), "desktop", auth_time=int(time.time()) - 3600)
    old = open_page(stale)
    old.page.get_by_role("button", name="Remove Safari on iOS").click()
    confirm(old.page, "Remove device")
    expect(old.page.locator("#problem")).to_contain_text("sign in again to confirm it's you")
    assert account["phone"][2] in devices(token)
    old.expected_failures = 1


def test_keyboard_screen_reader_and_phone(open_page, account):
    token, fingerprint, _ = account["laptop"]
    opened = open_page(token, fingerprint, bypass_csp=True)  # to inject axe-core only
    page = opened.page
    for state in ["page", "dialog"]:
        if state == "dialog":
            page.get_by_role("button", name="Remove Home PC").click()
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        serious = [(v["id"], v["impact"], v["help"]) for v in result["violations"]
                   if v["impact"] in ("serious", "critical")]
        assert serious == [], f"{state}: {serious}"
        if os.environ.get("PAGE_METRICS"):
            with open(os.environ["PAGE_METRICS"], "a") as out:
                counts = {v["id"]: v["impact"] for v in result["violations"]}
                out.write(json.dumps({"axe": state, "violations": counts, "passes": len(result.get("passes", []))}) + "\n")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert account["desktop"][2] in devices(token)

    # Keyboard only: Tab to a device's Rename, Enter, type, Enter.
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('aria-label')") == "Rename Home PC":
            break
    else:
        raise AssertionError("Rename Home PC is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_label("Device name")).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("Den PC")
    page.keyboard.press("Enter")
    expect(page.locator("#notice")).to_have_text("Renamed to Den PC.")
    assert devices(token)[account["desktop"][2]]["deviceName"] == "Den PC"

    # A phone's width: everything fits, nothing scrolls sideways.
    phone = open_page(token, fingerprint, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= 360


def test_the_page_is_served_with_a_strict_policy():
    with urllib.request.urlopen(f"{API}/account/devices", timeout=30) as response:
        policy = response.headers["Content-Security-Policy"]
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+';", policy)
    assert "frame-ancestors 'none'" in policy and "unsafe" not in policy


def token_user(token):
    """The `sub` of one of our local tokens."""
    claims = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["sub"]
