"""One CORS policy. API Gateway answers browsers with the template's CorsConfiguration,
but its $default route also receives preflights, which route-not-found answers from
shared/src/cors.rs. These tests fail the moment the two disagree, or the policy stops
covering what browser code needs."""

import re

import yaml

from test_routes_agree import ROOT, CloudFormationLoader, template_routes


def template():
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=CloudFormationLoader)


def cors_configuration():
    apis = [
        r for r in template()["Resources"].values() if r["Type"] == "AWS::Serverless::HttpApi"
    ]
    assert len(apis) == 1
    return apis[0]["Properties"]["CorsConfiguration"]


def rust_list(name):
    source = (ROOT / "shared/src/cors.rs").read_text()
    match = re.search(rf"pub const {name}: &\[&str\] = &\[([^\]]*)\];", source)
    assert match, name
    return re.findall(r'"([^"]+)"', match.group(1))


def rust_number(name):
    source = (ROOT / "shared/src/cors.rs").read_text()
    return int(re.search(rf"pub const {name}: u32 = (\d+);", source).group(1))


def lower(values):
    return sorted(v.lower() for v in values)


def test_the_function_answers_preflights_with_the_templates_policy():
    cors = cors_configuration()
    assert lower(cors["AllowMethods"]) == lower(rust_list("ALLOW_METHODS"))
    assert lower(cors["AllowHeaders"]) == lower(rust_list("ALLOW_HEADERS"))
    assert lower(cors["ExposeHeaders"]) == lower(rust_list("EXPOSE_HEADERS"))
    assert cors["MaxAge"] == rust_number("MAX_AGE_SECONDS")


def test_the_policy_covers_every_route_and_what_browser_code_reads():
    cors = cors_configuration()
    methods = {m.upper() for m in cors["AllowMethods"]}
    route_methods = {method for method, _ in template_routes(ROOT) if method != "ANY"}
    assert route_methods <= methods, route_methods - methods
    assert {"authorization", "content-type", "dpop"} <= set(lower(cors["AllowHeaders"]))
    # A 429's Retry-After and a 401's challenge are not CORS-safelisted headers.
    assert {"retry-after", "www-authenticate"} <= set(lower(cors["ExposeHeaders"]))


def test_every_function_knows_the_allowed_origins():
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert "CORS_ALLOWED_ORIGINS" in variables
    # The same parameter feeds both: the HttpApi's AllowOrigins and the variable.
    text = (ROOT / "template.yaml").read_text()
    assert 'CORS_ALLOWED_ORIGINS: !Join [",", !Ref AllowedOrigins]' in text
    assert "AllowOrigins: !Ref AllowedOrigins" in text
