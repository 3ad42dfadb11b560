"""One list of routes. API Gateway reads it from template.yaml, the local stack from
the cargo-lambda router in Cargo.toml, tests and `sam local invoke` from events/,
clients from openapi.yaml, the catch-all from shared/src/routes.rs, newcomers from the
README's route map, the endpoint tests from their `Route`, and each route's code is a
binary in functions/src/bin. These tests fail the moment one of them names a route, or
a binary, the others don't."""

import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

# Binaries that run as Lambda functions but serve no route, declared here so that a
# binary nobody routed is still caught. Each is a function of the template without
# an HttpApi event; its events/ files, `<binary>-*.json`, are not route events.
NON_ROUTE_BINARIES = {"authorize", "publish-events"}


class CloudFormationLoader(yaml.SafeLoader):
    pass


CloudFormationLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


class FunctionLoader(CloudFormationLoader):
    """Keeps CloudFormation's short-form functions, in their long form ({"Ref": …},
    {"Fn::GetAtt": [resource, attribute]}, {"Condition": …}, {"Fn::X": …})."""


def _function(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    return {f"Fn::{suffix}": value}


FunctionLoader.add_multi_constructor("!", _function)


def load(text):
    return yaml.load(text, Loader=FunctionLoader)


def template_routes(root):
    """(method, path) -> binary, from the HttpApi events of every function."""
    template = yaml.load((root / "template.yaml").read_text(), Loader=CloudFormationLoader)
    routes = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        binary = resource["Metadata"]["BuildProperties"]["Binary"]
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                props = event["Properties"]
                routes[(props["Method"].upper(), props["Path"])] = binary
    return routes


# API Gateway's catch-all route, as the template and the local router spell it.
DEFAULT_ROUTE = ("ANY", "$default")
LOCAL_CATCH_ALL = "/{*path}"


def router_routes(root):
    cargo = tomllib.loads((root / "Cargo.toml").read_text())
    router = cargo["workspace"]["metadata"]["lambda"]["watch"]["router"]
    routes = {}
    for path, entries in router.items():
        if path == LOCAL_CATCH_ALL:
            routes[DEFAULT_ROUTE] = entries
            continue
        for entry in entries:
            routes[(entry["method"].upper(), path)] = entry["function"]
    return routes


def event_routes(root):
    routes = set()
    for path in (root / "events").glob("*.json"):
        if any(path.stem.startswith(f"{binary}-") for binary in NON_ROUTE_BINARIES):
            continue
        event = json.loads(path.read_text())
        if event["routeKey"] == "$default":
            routes.add(DEFAULT_ROUTE)
            continue
        method, route = event["routeKey"].split(" ", 1)
        assert event["requestContext"]["http"]["method"] == method, path.name
        routes.add((method, route))
    return routes


def openapi_routes(root):
    spec = yaml.safe_load((root / "openapi.yaml").read_text())
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def route_table(root):
    """shared/src/routes.rs: (method, path) -> function, the one route table."""
    text = (root / "shared" / "src" / "routes.rs").read_text()
    listed = text.split("pub const ROUTES")[1].split("];")[0]
    return {(m, p): f for m, p, f in re.findall(r'\(\s*"([A-Z]+)",\s*"([^"]+)",\s*"([^"]+)",?\s*\)', listed)}


def route_not_found_list(root):
    """The routes the catch-all function knows (for 405): the route table's."""
    return set(route_table(root))


# A row of the README's route map: method, path, what it does, the route's code file.
README_ROW = re.compile(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \| .* \| `([a-z_]+\.rs)` \|$", re.M)


def readme_routes(root):
    """README.md's route map: (method, path) -> the file in functions/src/routes/."""
    return {(m, p): f for m, p, f in README_ROW.findall((root / "README.md").read_text())}


# Route events the endpoint tests do not send: the page is HTML, driven by the browser
# tests (tests/browser/).
NOT_IN_ENDPOINT_TESTS = {"devices-page", "not-me-page"}


def endpoint_test_events(root):
    """tests/endpoints/support.rs: the events/ file each `Route` sends."""
    text = (root / "tests" / "endpoints" / "support.rs").read_text()
    return set(re.findall(r'Route::\w+ => "([a-z-]+)"', text))


def route_event_names(root):
    return {
        path.stem
        for path in (root / "events").glob("*.json")
        if not any(path.stem.startswith(f"{binary}-") for binary in NON_ROUTE_BINARIES)
    }


def binaries(root):
    return {p.stem for p in (root / "functions" / "src" / "bin").glob("*.rs")}


def template_binaries(root):
    """Every function's binary in template.yaml, routed or not."""
    template = yaml.load((root / "template.yaml").read_text(), Loader=CloudFormationLoader)
    return {
        resource["Metadata"]["BuildProperties"]["Binary"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def mismatches(root):
    """Every way the five lists disagree with the template, as readable lines."""
    template = template_routes(root)
    found = []

    def compare(name, other, reference):
        for extra in sorted(set(other) - set(reference), key=str):
            found.append(f"{name} has {extra}, template.yaml does not")
        for missing in sorted(set(reference) - set(other), key=str):
            found.append(f"{name} lacks {missing}")

    compare("router", router_routes(root).items(), template.items())
    compare("events/", event_routes(root), template.keys())
    served = set(template) - {DEFAULT_ROUTE}
    compare("openapi.yaml", openapi_routes(root), served)
    compare("shared/src/routes.rs", route_not_found_list(root), served)
    served_by = {route: binary for route, binary in template.items() if route != DEFAULT_ROUTE}
    for route, function in sorted(route_table(root).items()):
        if route in served_by and served_by[route] != function:
            found.append(f"shared/src/routes.rs serves {route} with {function}, template.yaml with {served_by[route]}")
    readme = readme_routes(root)
    compare("README.md", readme.keys(), served)
    table = route_table(root)
    for route, file in sorted(readme.items()):
        if route in table and file != table[route].replace("-", "_") + ".rs":
            found.append(f"README.md names {file} for {route}, shared/src/routes.rs {table[route]}")
        if not (root / "functions" / "src" / "routes" / file).exists():
            found.append(f"README.md names {file} for {route}, functions/src/routes/ has no such file")
    tested, sent = endpoint_test_events(root), route_event_names(root) - NOT_IN_ENDPOINT_TESTS
    for extra in sorted(tested - sent):
        found.append(f"tests/endpoints/support.rs sends events/{extra}.json, which is no route's event")
    for missing in sorted(sent - tested):
        found.append(f"tests/endpoints/support.rs has no Route for events/{missing}.json")
    compare("functions/src/bin", binaries(root) - NON_ROUTE_BINARIES, set(template.values()))
    for binary in sorted(NON_ROUTE_BINARIES):
        if binary not in binaries(root):
            found.append(f"functions/src/bin lacks {binary} (a non-route binary)")
        if binary not in template_binaries(root):
            found.append(f"template.yaml lacks a function for {binary} (a non-route binary)")
        if binary in template.values():
            found.append(f"template.yaml routes {binary}, declared a non-route binary")
    return found


def test_template_router_events_openapi_and_binaries_agree():
    assert mismatches(ROOT) == []


@pytest.fixture
def copy(tmp_path):
    for name in ["template.yaml", "Cargo.toml", "openapi.yaml"]:
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "shared" / "src").mkdir(parents=True)
    shutil.copy(ROOT / "shared" / "src" / "routes.rs", tmp_path / "shared" / "src" / "routes.rs")
    shutil.copytree(ROOT / "events", tmp_path / "events")
    shutil.copytree(ROOT / "functions" / "src" / "bin", tmp_path / "functions" / "src" / "bin")
    shutil.copytree(ROOT / "functions" / "src" / "routes", tmp_path / "functions" / "src" / "routes")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "tests" / "endpoints").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "endpoints" / "support.rs", tmp_path / "tests" / "endpoints" / "support.rs")
    assert mismatches(tmp_path) == []
    return tmp_path


# A route added in only one place is caught, whichever place it is.

def test_a_route_only_in_the_router_is_caught(copy):
    cargo = copy / "Cargo.toml"
    cargo.write_text(cargo.read_text() + '"/devices/export" = [{ method = "GET", function = "list-devices" }]\n')
    assert mismatches(copy) == ["router has (('GET', '/devices/export'), 'list-devices'), template.yaml does not"]


def test_a_route_only_in_events_is_caught(copy):
    event = json.loads((copy / "events" / "list-devices.json").read_text())
    event["routeKey"] = "GET /devices/export"
    (copy / "events" / "export-devices.json").write_text(json.dumps(event))
    assert mismatches(copy) == [
        "events/ has ('GET', '/devices/export'), template.yaml does not",
        "tests/endpoints/support.rs has no Route for events/export-devices.json",
    ]


def test_a_route_only_in_openapi_is_caught(copy):
    spec = yaml.safe_load((copy / "openapi.yaml").read_text())
    spec["paths"]["/devices/export"] = {"get": spec["paths"]["/devices"]["get"]}
    (copy / "openapi.yaml").write_text(yaml.safe_dump(spec))
    assert mismatches(copy) == ["openapi.yaml has ('GET', '/devices/export'), template.yaml does not"]


def test_a_binary_without_a_route_is_caught(copy):
    (copy / "functions" / "src" / "bin" / "export-devices.rs").write_text("fn main() {}\n")
    assert mismatches(copy) == ["functions/src/bin has export-devices, template.yaml does not"]


def test_a_route_only_in_the_template_is_caught_everywhere_else(copy):
    template = copy / "template.yaml"
    text = template.read_text().replace(
        "            Method: GET\n            Path: /devices\n",
        "            Method: GET\n            Path: /devices\n"
        "        Export:\n          Type: HttpApi\n          Properties:\n"
        "            ApiId: !Ref HttpApi\n            Method: GET\n            Path: /devices/export\n",
    )
    assert text != template.read_text()
    template.write_text(text)
    assert mismatches(copy) == [
        "router lacks (('GET', '/devices/export'), 'list-devices')",
        "events/ lacks ('GET', '/devices/export')",
        "openapi.yaml lacks ('GET', '/devices/export')",
        "shared/src/routes.rs lacks ('GET', '/devices/export')",
        "README.md lacks ('GET', '/devices/export')",
    ]


def test_a_route_only_in_the_catch_all_list_is_caught(copy):
    routes = copy / "shared" / "src" / "routes.rs"
    routes.write_text(routes.read_text().replace('    ("GET", "/devices", "list-devices"),\n', '    ("GET", "/devices", "list-devices"),\n    ("GET", "/devices/export", "list-devices"),\n'))
    assert mismatches(copy) == ["shared/src/routes.rs has ('GET', '/devices/export'), template.yaml does not"]


def test_a_route_served_by_another_function_in_the_table_is_caught(copy):
    routes = copy / "shared" / "src" / "routes.rs"
    routes.write_text(routes.read_text().replace('("GET", "/devices", "list-devices")', '("GET", "/devices", "get-device")'))
    assert mismatches(copy) == [
        "shared/src/routes.rs serves ('GET', '/devices') with get-device, template.yaml with list-devices",
        "README.md names list_devices.rs for ('GET', '/devices'), shared/src/routes.rs get-device",
    ]


def test_a_non_route_binary_stays_out_of_the_routes(copy):
    (copy / "functions" / "src" / "bin" / "authorize.rs").unlink()
    template = copy / "template.yaml"
    text = template.read_text().replace("Binary: authorize\n", "Binary: list-devices\n")
    assert text != template.read_text()
    template.write_text(text)
    assert mismatches(copy) == [
        "functions/src/bin lacks authorize (a non-route binary)",
        "template.yaml lacks a function for authorize (a non-route binary)",
    ]


def test_a_route_missing_from_the_readme_map_or_naming_another_file_is_caught(copy):
    readme = copy / "README.md"
    text = readme.read_text()
    row = "| GET | `/devices` | the caller's devices (optional pages) | `list_devices.rs` |\n"
    assert row in text
    readme.write_text(text.replace(row, "").replace("`get_device.rs`", "`get_devices.rs`"))
    assert mismatches(copy) == [
        "README.md lacks ('GET', '/devices')",
        "README.md names get_devices.rs for ('GET', '/devices/{id}'), shared/src/routes.rs get-device",
        "README.md names get_devices.rs for ('GET', '/devices/{id}'), functions/src/routes/ has no such file",
    ]


def test_an_event_the_endpoint_tests_do_not_send_is_caught(copy):
    support = copy / "tests" / "endpoints" / "support.rs"
    text = support.read_text()
    assert 'Route::CurrentSession => "get-current-session"' in text
    support.write_text(text.replace('Route::CurrentSession => "get-current-session"', 'Route::CurrentSession => "current-session"'))
    assert mismatches(copy) == [
        "tests/endpoints/support.rs sends events/current-session.json, which is no route's event",
        "tests/endpoints/support.rs has no Route for events/get-current-session.json",
    ]
