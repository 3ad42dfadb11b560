"""A revoked session's item is swept only once no cascade that read it alive can still
be writing to it (docs/design.md, "Revoked sessions are swept"): the grace period must
outlast every function's timeout in the template."""

import re

from test_routes_agree import ROOT, load


def test_the_sweep_grace_outlasts_every_function():
    source = (ROOT / "shared" / "src" / "store" / "sweep.rs").read_text()
    grace = int(re.search(r"pub const SWEEP_GRACE_SECONDS: i64 = (\d+);", source).group(1))
    template = load((ROOT / "template.yaml").read_text())
    default = template["Globals"]["Function"]["Timeout"]
    timeouts = {
        name: resource.get("Properties", {}).get("Timeout", default)
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert timeouts, "the template's functions"
    # Twice over: a cascade's read and write fall inside one invocation.
    assert all(2 * seconds < grace for seconds in timeouts.values()), timeouts
