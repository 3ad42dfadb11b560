"""The list of routes is written in four places the platform reads — template.yaml
(API Gateway), the cargo-lambda router in Cargo.toml (the local stack), events/ and
openapi.yaml — and built from a fifth, functions/src/bin. They must agree exactly."""

import json
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


class CloudFormationLoader(yaml.SafeLoader):
    pass


CloudFormationLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def template_routes():
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=CloudFormationLoader)
    routes = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        binary = resource["Metadata"]["Binary"]
        for event in resource["Properties"]["Events"].values():
            if event["Type"] == "HttpApi":
                props = event["Properties"]
                routes[(props["Method"].upper(), props["Path"])] = binary
    return routes


def router_routes():
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    router = cargo["workspace"]["metadata"]["lambda"]["watch"]["router"]
    return {
        (entry["method"].upper(), path): entry["function"]
        for path, entries in router.items()
        for entry in entries
    }


def event_routes():
    routes = {}
    for path in (ROOT / "events").glob("*.json"):
        event = json.loads(path.read_text())
        method, route = event["routeKey"].split(" ", 1)
        assert event["requestContext"]["http"]["method"] == method, path.name
        routes[(method, route)] = path.stem
    return routes


def openapi_routes():
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def binaries():
    return {p.stem for p in (ROOT / "functions" / "src" / "bin").glob("*.rs")}


def test_the_router_serves_every_template_route_with_the_same_binary():
    assert router_routes() == template_routes()


def test_every_template_route_has_exactly_one_event():
    assert set(event_routes()) == set(template_routes())


def test_openapi_documents_exactly_the_template_routes():
    assert openapi_routes() == set(template_routes())


def test_every_binary_serves_a_route_and_every_route_has_a_binary():
    assert set(template_routes().values()) == binaries()
