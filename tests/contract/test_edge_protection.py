"""Edge protection: one parameter (EdgeProtection, off by default) puts a CloudFront
distribution with an AWS WAF web ACL of per-IP rate limits in front of the HTTP API.
Off, the template creates nothing more; on, every request to the API through the edge
is counted against exactly one per-IP budget: sign-in, kill switch, or everything else.
The last test lints a copy of the template with the feature switched on."""

import re
import subprocess

import pytest

from test_routes_agree import ROOT, load, template_routes

EDGE_ON = "EdgeProtectionOn"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
ALL_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
SIGN_IN = ("POST", "/sessions")
# The routes that end access: what a user under attack needs most.
KILL_SWITCH = {
    ("POST", "/sessions/{id}/revoke"),
    ("POST", "/sessions/revoke-all"),
    ("POST", "/devices/{id}/untrust"),
    ("DELETE", "/devices/{id}"),
}


@pytest.fixture(scope="module")
def template():
    return load((ROOT / "template.yaml").read_text())


# A small evaluator of the template's conditions and rules, for given parameters.

def parameters(template, **overrides):
    values = {name: p.get("Default", "") for name, p in template["Parameters"].items()}
    values["AWS::Region"] = "us-east-1"
    values.update(overrides)
    return values


def truth(expr, template, params):
    if not isinstance(expr, dict):
        return expr
    (fn, arg), = expr.items()
    if fn == "Ref":
        return params[arg]
    if fn == "Condition":
        return truth(template["Conditions"][arg], template, params)
    if fn == "Fn::Equals":
        left, right = (truth(a, template, params) for a in arg)
        return str(left) == str(right)
    if fn == "Fn::Not":
        return not truth(arg[0], template, params)
    if fn == "Fn::And":
        return all(truth(a, template, params) for a in arg)
    if fn == "Fn::Or":
        return any(truth(a, template, params) for a in arg)
    raise AssertionError(f"no evaluator for {fn}")


def created(template, params):
    """The resources a stack with these parameters would hold."""
    return {
        name
        for name, resource in template["Resources"].items()
        if "Condition" not in resource or truth({"Condition": resource["Condition"]}, template, params)
    }


def refused_by(template, params):
    """The template rules a deployment with these parameters fails."""
    refused = set()
    for name, rule in template.get("Rules", {}).items():
        if "RuleCondition" in rule and not truth(rule["RuleCondition"], template, params):
            continue
        if not all(truth(a["Assert"], template, params) for a in rule["Assertions"]):
            refused.add(name)
    return refused


def names_in(value):
    """Every resource or parameter a piece of template refers to."""
    found = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref":
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0])
            elif key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                found |= {n.split(".")[0] for n in re.findall(r"\$\{([^}!]+)\}", text)}
                if not isinstance(inner, str):
                    found |= names_in(inner[1])
            else:
                found |= names_in(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= names_in(inner)
    return found


# A small evaluator of the web ACL's match statements, for one request.

def transform(value, transformations):
    for t in sorted(transformations, key=lambda t: t["Priority"]):
        if t["Type"] == "NORMALIZE_PATH":
            value = re.sub(r"/+", "/", value)
            value = re.sub(r"(/\.)+(?=/|$)", "", value)
        elif t["Type"] != "NONE":
            raise AssertionError(f"no evaluator for {t['Type']}")
    return value


def matches(statement, method, path):
    (kind, body), = statement.items()
    if kind == "AndStatement":
        return all(matches(s, method, path) for s in body["Statements"])
    if kind == "OrStatement":
        return any(matches(s, method, path) for s in body["Statements"])
    if kind == "NotStatement":
        return not matches(body["Statement"], method, path)
    (field,) = body["FieldToMatch"]
    value = {"Method": method, "UriPath": path}[field]
    value = transform(value, body["TextTransformations"])
    if kind == "ByteMatchStatement":
        wanted = body["SearchString"]
        return {
            "EXACTLY": value == wanted,
            "STARTS_WITH": value.startswith(wanted),
            "ENDS_WITH": value.endswith(wanted),
            "CONTAINS": wanted in value,
        }[body["PositionalConstraint"]]
    if kind == "RegexMatchStatement":
        return re.search(body["RegexString"], value) is not None
    raise AssertionError(f"no evaluator for {kind}")


def web_acl(template):
    acls = [r for r in template["Resources"].values() if r["Type"] == "AWS::WAFv2::WebACL"]
    assert len(acls) == 1, "one web ACL"
    return acls[0]["Properties"]


def distribution(template):
    found = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudFront::Distribution"]
    assert len(found) == 1, "one distribution"
    return found[0]


def rule_limited_by(template, parameter):
    """The web ACL rule whose limit is the given parameter."""
    rules = [
        r for r in web_acl(template)["Rules"]
        if r["Statement"]["RateBasedStatement"]["Limit"] == {"Ref": parameter}
    ]
    assert len(rules) == 1, parameter
    return rules[0]


def counted_by(rule, method, path):
    scope = rule["Statement"]["RateBasedStatement"].get("ScopeDownStatement")
    return scope is None or matches(scope, method, path)


def concrete(path):
    return path.replace("{id}", "a1b2c3")


# The switch.

def test_one_parameter_turns_it_on_and_it_is_off_by_default(template):
    switch = template["Parameters"]["EdgeProtection"]
    # Quoted in the template: bare off/on are YAML 1.1 booleans.
    assert switch["AllowedValues"] == ["off", "on"]
    assert switch["Default"] == "off"
    assert template["Conditions"][EDGE_ON] == {"Fn::Equals": [{"Ref": "EdgeProtection"}, "on"]}


def test_off_creates_nothing_and_on_creates_the_edge(template):
    resources = template["Resources"]
    off = created(template, parameters(template))
    on = created(template, parameters(template, EdgeProtection="on"))
    edge = on - off
    assert off <= on
    assert {resources[n]["Type"] for n in edge} >= {
        "AWS::WAFv2::WebACL",
        "AWS::WAFv2::LoggingConfiguration",
        "AWS::CloudFront::Distribution",
    }
    # Every new resource carries the switch's condition, and nothing else edge-like
    # exists without it.
    for name in edge:
        assert resources[name]["Condition"] == EDGE_ON, name
    for name, resource in resources.items():
        if name.startswith("Edge") or resource["Type"].startswith(("AWS::WAFv2::", "AWS::CloudFront::")):
            assert name in edge, name
    # What exists when off neither refers to the edge nor reads its parameters, so
    # turning it on or off changes nothing already deployed.
    edge_parameters = {n for n in template["Parameters"] if n.startswith("Edge")}
    for name in off:
        assert not names_in(resources[name]) & (edge | edge_parameters), name
    assert not names_in(template.get("Globals", {})) & (edge | edge_parameters)
    # Outputs about the edge appear only when it is on.
    for name, output in template["Outputs"].items():
        if names_in(output) & (edge | edge_parameters):
            assert output.get("Condition") == EDGE_ON, name


def test_on_is_refused_outside_us_east_1(template):
    rules = [
        name for name, rule in template["Rules"].items()
        if rule.get("RuleCondition") == {"Fn::Equals": [{"Ref": "EdgeProtection"}, "on"]}
        and any(
            a["Assert"]["Fn::Equals"] in ([{"Ref": "AWS::Region"}, "us-east-1"], ["us-east-1", {"Ref": "AWS::Region"}])
            for a in rule["Assertions"] if "Fn::Equals" in a["Assert"]
        )
    ]
    assert len(rules) == 1, "one rule ties EdgeProtection=on to us-east-1"
    (rule,) = rules
    assert all("us-east-1" in a["AssertDescription"] for a in template["Rules"][rule]["Assertions"])

    def refused(region, switch):
        # Only what turning the edge on adds: other rules (token scope) are not this test's.
        baseline = refused_by(template, parameters(template, **{"AWS::Region": region}))
        return refused_by(template, parameters(template, EdgeProtection=switch, **{"AWS::Region": region})) - baseline

    assert refused("eu-west-1", "on") == {rule}
    assert refused("eu-west-1", "off") == set()
    assert refused("us-east-1", "on") == set()


# The web ACL.

def test_every_rule_is_a_per_ip_rate_limit_that_blocks_with_a_429(template):
    acl = web_acl(template)
    assert acl["Scope"] == "CLOUDFRONT"
    assert acl["DefaultAction"] == {"Allow": {}}
    assert len(acl["Rules"]) >= 3
    assert len({r["Priority"] for r in acl["Rules"]}) == len(acl["Rules"])
    for rule in acl["Rules"]:
        rate = rule["Statement"]["RateBasedStatement"]
        assert rate["AggregateKeyType"] == "IP", rule["Name"]  # the viewer's address, never a header
        assert rate["EvaluationWindowSec"] == 60, rule["Name"]  # the parameters say "per minute"
        (parameter,) = rate["Limit"].values()
        assert template["Parameters"][parameter]["MinValue"] >= 10, parameter  # WAF's minimum
        response = rule["Action"]["Block"]["CustomResponse"]
        assert response["ResponseCode"] == 429
        assert {"Name": "Retry-After", "Value": "60"} in response["ResponseHeaders"]
        assert response["CustomResponseBodyKey"] in acl["CustomResponseBodies"]


def test_an_operator_sees_blocks_and_no_token_is_kept(template):
    acl = web_acl(template)
    configs = [acl["VisibilityConfig"]] + [r["VisibilityConfig"] for r in acl["Rules"]]
    for config in configs:
        assert config["CloudWatchMetricsEnabled"] is True
        # Sampled requests would show Authorization headers in the console.
        assert config["SampledRequestsEnabled"] is False
    assert len({str(c["MetricName"]) for c in configs}) == len(configs)
    logging = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::WAFv2::LoggingConfiguration"
    ]
    assert len(logging) == 1
    props = logging[0]["Properties"]
    assert {"SingleHeader": {"Name": "authorization"}} in props["RedactedFields"]
    assert props["LoggingFilter"]["DefaultBehavior"] == "DROP"
    assert props["LoggingFilter"]["Filters"][0]["Conditions"] == [{"ActionCondition": {"Action": "BLOCK"}}]


def test_the_sign_in_rule_is_post_sessions_exactly(template):
    rule = rule_limited_by(template, "EdgeSignInsPerMinute")
    scope = rule["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    conditions = {
        (next(iter(s["ByteMatchStatement"]["FieldToMatch"])), s["ByteMatchStatement"]["PositionalConstraint"],
         s["ByteMatchStatement"]["SearchString"])
        for s in scope["AndStatement"]["Statements"]
    }
    assert conditions == {("Method", "EXACTLY", "POST"), ("UriPath", "EXACTLY", "/sessions")}


def test_each_route_is_counted_by_the_budget_meant_for_it(template):
    routes = set(template_routes(ROOT))
    assert SIGN_IN in routes and KILL_SWITCH <= routes, "the routes named here are the template's"
    sign_in = rule_limited_by(template, "EdgeSignInsPerMinute")
    kill_switch = rule_limited_by(template, "EdgeKillSwitchPerMinute")
    general = rule_limited_by(template, "EdgeRequestsPerMinute")
    # Blocked sign-ins end their evaluation before the general rule would count them.
    assert sign_in["Priority"] < general["Priority"]
    requests = {(m, concrete(p)) for m, p in routes if m != "ANY"}
    requests |= {("GET", "/no/such/route"), ("OPTIONS", "/sessions"), ("GET", "/sessions"), ("POST", "/devices/trust")}
    for method, path in sorted(requests):
        is_sign_in = (method, path) == SIGN_IN
        is_kill_switch = (method, path) in {(m, concrete(p)) for m, p in KILL_SWITCH}
        assert counted_by(sign_in, method, path) == is_sign_in, (method, path)
        assert counted_by(kill_switch, method, path) == is_kill_switch, (method, path)
        # Nothing else spends the kill switch's budget, nor the kill switch anyone else's.
        assert counted_by(general, method, path) == (not is_kill_switch), (method, path)
    # The same path written with extra slashes is the same request.
    assert counted_by(sign_in, "POST", "//sessions")
    assert counted_by(kill_switch, "POST", "/sessions//a1b2c3/revoke")


def test_the_general_rule_excludes_exactly_the_kill_switch(template):
    kill_switch = rule_limited_by(template, "EdgeKillSwitchPerMinute")["Statement"]["RateBasedStatement"]
    general = rule_limited_by(template, "EdgeRequestsPerMinute")["Statement"]["RateBasedStatement"]
    assert general["ScopeDownStatement"] == {"NotStatement": {"Statement": kill_switch["ScopeDownStatement"]}}


# The distribution.

def test_the_distribution_fronts_the_http_api_through_the_web_acl(template):
    resource = distribution(template)
    assert resource["Condition"] == EDGE_ON
    config = resource["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]
    domain = origin["DomainName"]["Fn::Sub"]
    api = domain.split("}", 1)[0].removeprefix("${")
    assert template["Resources"][api]["Type"] == "AWS::Serverless::HttpApi"
    assert domain.startswith(f"${{{api}}}.execute-api.${{AWS::Region}}.")
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    behavior = config["DefaultCacheBehavior"]
    assert behavior["TargetOriginId"] == origin["Id"]
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert set(behavior["AllowedMethods"]) == ALL_METHODS
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    acl = next(n for n, r in template["Resources"].items() if r["Type"] == "AWS::WAFv2::WebACL")
    assert config["WebACLId"] == {"Fn::GetAtt": [acl, "Arn"]}
    # Limits are per address; one IPv6 host can hold millions of them.
    assert config["IPV6Enabled"] is False
    assert config["Enabled"] is True


def test_clients_are_told_where_the_edge_is(template):
    url = template["Outputs"]["EdgeUrl"]
    assert url["Condition"] == EDGE_ON
    dist = next(n for n, r in template["Resources"].items() if r["Type"] == "AWS::CloudFront::Distribution")
    assert dist in names_in(url["Value"])


# The linter, with the switch in either position.

@pytest.mark.parametrize("switch", ["off", "on"])
def test_cfn_lint_passes(tmp_path, switch):
    cfn_lint = ROOT / ".venv" / "bin" / "cfn-lint"
    assert cfn_lint.exists(), "run scripts/tools.sh (make tools) first"
    text = (ROOT / "template.yaml").read_text()
    flipped, count = re.subn(
        r'(\n  EdgeProtection:\n(?:    .*\n)*?    Default: )"off"\n', rf'\1"{switch}"\n', text, count=1
    )
    assert count == 1
    assert load(flipped)["Parameters"]["EdgeProtection"]["Default"] == switch
    copy = tmp_path / "template.yaml"
    copy.write_text(flipped)
    result = subprocess.run([str(cfn_lint), str(copy)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
