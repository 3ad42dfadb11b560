"""The page binds the session it is handed to a key of this browser (DPoP, RFC 9449;
docs/device-binding.md): a P-256 key WebCrypto made non-extractable, kept in
IndexedDB, signing every call. The token copied out of the page is worth nothing
without that key."""

import uuid

from playwright.sync_api import expect

from conftest import API, call, demo_user

from mint_token import mint

# Reads this browser's device key from the page's IndexedDB and tries to export it.
READ_KEY = """async () => {
  const pair = await new Promise((resolve, reject) => {
    const opened = indexedDB.open("flashback", 1);
    opened.onerror = () => reject(opened.error);
    opened.onsuccess = () => {
      const request = opened.result.transaction("keys").objectStore("keys").get("device");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    };
  });
  const exported = await crypto.subtle.exportKey("pkcs8", pair.privateKey)
    .then(() => "exported", (error) => error.name);
  return { extractable: pair.privateKey.extractable, exported, algorithm: pair.privateKey.algorithm };
}"""


def test_the_page_works_bound_and_its_token_alone_is_refused(open_page):
    user = f"page-bound-{uuid.uuid4().hex}"
    demo_user.seed(API, user)
    # The app hands the page a session of its own, not yet registered: the page binds it.
    token = mint(user, f"page-{uuid.uuid4().hex[:12]}")
    opened = open_page(token)
    page = opened.page
    assert page.locator("body[data-loaded]").count() == 1
    current = page.locator("#sessions [data-session-id]", has=page.locator(".badge.current"))
    assert current.locator(".badge.bound").inner_text() == "Key-bound"
    assert page.locator("#devices .badge.bound").count() == 1, "only this browser's device is bound"
    # The stack hands out DPoP nonces (DPOP_NONCE=on): the page's first proof had none,
    # was answered USE_DPOP_NONCE, and the page signed it again with the one handed out.
    assert opened.nonce_retries == 1

    key = page.evaluate(READ_KEY)
    assert key["extractable"] is False and key["exported"] == "InvalidAccessError", key
    assert key["algorithm"] == {"name": "ECDSA", "namedCurve": "P-256"}, key

    # The token as a thief would copy it from the tab: refused without the key.
    copied = page.evaluate("sessionStorage.getItem('flashback.token')")
    assert copied == token
    status, body = call("GET", "/devices", copied)
    assert status == 401 and body["code"] == "DPOP_PROOF_REQUIRED", body

    # A reload signs its calls with the same key; an action works bound.
    page.reload()
    page.wait_for_selector("body[data-loaded]")
    page.locator("#refresh").click()
    expect(page.locator("#notice")).to_contain_text("Up to date")
    assert opened.nonce_retries == 1, "the nonce kept across the reload"
    assert opened.unexpected_errors() == []
