"""The template's PageFrameAncestors AllowedPattern admits 'none', 'self' and exact
https:// origins only: never a wildcard host, which would let any site (or any
subdomain) frame the Your devices page (docs/devices-page.md). The function checks the
same at cold start (functions/src/routes/devices_page.rs)."""

import re

import pytest

from test_routes_agree import ROOT, load


@pytest.fixture(scope="module")
def pattern():
    template = load((ROOT / "template.yaml").read_text())
    return re.compile(template["Parameters"]["PageFrameAncestors"]["AllowedPattern"])


@pytest.mark.parametrize("value", [
    "'none'",
    "'self'",
    "https://app.example.com",
    "https://app.example.com:8443",
    "'self' https://app.example.com https://admin.example.com",
])
def test_exact_origins_are_allowed(pattern, value):
    assert pattern.fullmatch(value), value


@pytest.mark.parametrize("value", [
    "https://*",
    "https://*.example.com",
    "'self' https://*",
    "https://app.example.com:*",
    "*",
    "http://app.example.com",
    "https://app.example.com/path",
    "https://a.example; script-src *",
    "",
])
def test_wildcards_and_other_sources_are_refused(pattern, value):
    assert not pattern.fullmatch(value), value
