"""Deployed tokens are scoped: the template refuses a deployment that checks neither
issuer nor audience unless the operator opts out in so many words, and hands the
functions what they need to check both."""

import yaml

from test_routes_agree import ROOT


class TaggedLoader(yaml.SafeLoader):
    """Keeps CloudFormation's short-form functions as {"!Tag": value}."""


def _tagged(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"!{suffix}": value}


TaggedLoader.add_multi_constructor("!", _tagged)


def template():
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=TaggedLoader)


def test_issuer_and_audience_are_required_unless_opted_out():
    t = template()
    assert t["Parameters"]["JwtAllowUnscopedTokens"]["Default"] == "false"
    assert t["Parameters"]["JwtIssuer"]["Default"] == ""
    rule = t["Rules"]["TokensAreScoped"]
    assert rule["RuleCondition"] == {"!Equals": [{"!Ref": "JwtAllowUnscopedTokens"}, "false"]}
    assertion = str(rule["Assertions"])
    assert "JwtIssuer" in assertion and "JwtAudience" in assertion


def test_the_functions_get_the_scope_and_the_opt_out():
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    for name in ["JWT_ISSUER", "JWT_AUDIENCE", "JWT_ALLOW_UNSCOPED_TOKENS", "JWT_TOKEN_TYPE"]:
        assert name in variables, name
