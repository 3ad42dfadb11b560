"""The page's hand-off leaves nothing in the browser that signs anyone in: Chromium
keeps every URL it opens in its profile's History database (a fragment too, whatever
the page does with it afterwards), so the page is opened the way the platform's app
opens it, in a browser with a profile on disk, and that database is read once the
browser has closed (docs/devices-page.md, "Opening it")."""

import os
import re
import sqlite3

from conftest import API, CHROMIUM, demo_user, open_loaded

# Only to see this test fail on the hand-off it replaced (the token itself in the
# fragment): PAGE_LINK=token-fragment.
LEGACY = os.environ.get("PAGE_LINK") == "token-fragment"


def link(token, fingerprint):
    if LEGACY:
        return f"{API}/account/devices#token={token}&fingerprint={fingerprint}"
    return demo_user.page_link(API, token, fingerprint)


def everything_in(database):
    """Every value of every row of every table, as text."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(
            str(value)
            for table in tables
            for row in db.execute(f'SELECT * FROM "{table}"')
            for value in row
        )


def test_the_browser_history_holds_no_credential(playwright, account, tmp_path):
    token, fingerprint, _ = account["laptop"]
    profiles, contexts = [], []

    def new_page():
        # A profile of its own each time the page is opened (conftest.open_loaded).
        profiles.append(tmp_path / f"profile-{len(profiles)}")
        contexts.append(playwright.chromium.launch_persistent_context(str(profiles[-1]), executable_path=CHROMIUM))
        return contexts[-1].new_page()

    try:
        opened = open_loaded(new_page, lambda: link(token, fingerprint))
        assert opened.page.locator("#devices > li").count() == 4, "signed in as the user"
        assert not opened.unexpected_errors(), opened.errors
        opened.settle()
    finally:
        for context in contexts:
            context.close()

    profile = profiles[-1]
    history = profile / "Default" / "History"
    urls = [row[0] for row in sqlite3.connect(f"file:{history}?mode=ro", uri=True).execute("SELECT url FROM urls")]
    assert any(url.startswith(f"{API}/account/devices") for url in urls), f"the visit is recorded: {urls}"
    stored = everything_in(history)
    assert token not in stored, "the token is in the browser's history"
    assert token.rsplit(".", 1)[1] not in stored, "the token's signature is in the browser's history"
    assert fingerprint not in stored, "the fingerprint is in the browser's history"

    # What the history does hold, the code, was spent when the page opened.
    codes = set(re.findall(r"#code=([A-Za-z0-9_-]{43})", stored))
    assert codes, f"the link's code: {urls}"
    for code in codes:
        status, body = demo_user.call(API, "POST", "/account/devices/codes/redeem", None, {"code": code})
        assert (status, body.get("code")) == (404, "CODE_NOT_FOUND"), body
