"""Deployed tokens are scoped: the template refuses a deployment that checks neither
issuer nor audience unless the operator opts out in so many words, and hands the
functions what they need to check both."""

from test_routes_agree import ROOT, load


def template():
    return load((ROOT / "template.yaml").read_text())


def test_issuer_and_audience_are_required_unless_opted_out():
    t = template()
    assert t["Parameters"]["JwtAllowUnscopedTokens"]["Default"] == "false"
    assert t["Parameters"]["JwtIssuer"]["Default"] == ""
    rule = t["Rules"]["TokensAreScoped"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "JwtAllowUnscopedTokens"}, "false"]}
    assertion = str(rule["Assertions"])
    assert "JwtIssuer" in assertion and "JwtAudience" in assertion


def test_the_functions_get_the_scope_and_the_opt_out():
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    for name in ["JWT_ISSUER", "JWT_AUDIENCE", "JWT_ALLOW_UNSCOPED_TOKENS", "JWT_TOKEN_TYPE"]:
        assert name in variables, name
