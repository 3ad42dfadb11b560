"""Operations (docs/operations.md): every function has its alarms (errors, throttles,
duration near its timeout) as its deployment's rollback triggers and a dashboard
widget; every function runs behind its alias; no metric, emitted or read, takes an
identifier as a dimension; the generated section is current. Each check is also run
against a template broken on purpose, so it is known to catch what it looks for."""

import copy
import json
import re
import subprocess
import sys

from test_routes_agree import ROOT, load

# What a dimension may name: a function, a status, a refusal code, an end reason, and
# AWS's own resource names. Never a user, session or device id, nor an address.
ALLOWED_DIMENSIONS = {
    "Function", "Status", "Code", "EndReason",
    "FunctionName", "Resource", "ApiId", "Stage", "TableName", "Operation", "QueueName",
}
IDENTIFIER = re.compile(r"user|session|device|ip|address|fingerprint|token|sub\b", re.IGNORECASE)


def template():
    return load((ROOT / "template.yaml").read_text())


def functions(t):
    return {
        name: r for name, r in t["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    }


def alarms(t):
    return {name: r for name, r in t["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def alarm_functions(alarm):
    """The functions an alarm watches (by Ref in its FunctionName dimension)."""
    props = alarm["Properties"]
    dims = list(props.get("Dimensions", []))
    for metric in props.get("Metrics", []):
        dims += metric.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
    return {d["Value"]["Ref"] for d in dims if d["Name"] == "FunctionName" and isinstance(d["Value"], dict)}


def alarm_dimensions(alarm):
    props = alarm["Properties"]
    dims = list(props.get("Dimensions", []))
    for metric in props.get("Metrics", []):
        dims += metric.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
    return {d["Name"] for d in dims}


def missing_alarms(t):
    """Function -> the kinds of alarm (Errors, Throttles, Duration) it lacks, or that
    its deployment does not roll back on."""
    missing = {}
    by_metric = {}
    for name, alarm in alarms(t).items():
        for function in alarm_functions(alarm):
            by_metric.setdefault(function, {})[alarm["Properties"].get("MetricName")] = name
    for name, function in functions(t).items():
        found = by_metric.get(name, {})
        rollback = json.dumps(function["Properties"].get("DeploymentPreference", {}))
        lacking = [
            kind for kind in ("Errors", "Throttles", "Duration")
            if kind not in found or f'"{found[kind]}"' not in rollback
        ]
        if lacking:
            missing[name] = lacking
    return missing


def dashboard_widgets(t):
    body = t["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(body)["widgets"]


def functions_without_widget(t):
    shown = json.dumps(dashboard_widgets(t))
    return sorted(name for name in functions(t) if f'"${{{name}}}"' not in shown)


def identifier_dimensions(t):
    """Dimension names in alarms and the dashboard that are not allowed, or look like
    an identifier."""
    names = set()
    for alarm in alarms(t).values():
        names |= alarm_dimensions(alarm)
    for widget in dashboard_widgets(t):
        for metric in widget["properties"]["metrics"]:
            if isinstance(metric, list):
                # [namespace, metric, dim, value, dim, value, ..., {options}?]
                parts = [m for m in metric if isinstance(m, str)]
                names |= {p for p in parts[2::2] if p not in (".", "...")}
            else:
                # SEARCH('{namespace,Dim,Dim} ...'): the names after the namespace.
                schema = re.search(r"SEARCH\('\{(.*?)\} ", metric["expression"]).group(1)
                names |= set(schema.split(",")[1:])
    return sorted(n for n in names if n not in ALLOWED_DIMENSIONS or IDENTIFIER.search(n))


def rust_dimensions():
    source = (ROOT / "shared/src/metrics.rs").read_text()
    listed = re.search(r"pub const DIMENSIONS: &\[&str\] = &\[(.*?)\];", source, re.DOTALL).group(1)
    return re.findall(r'"(\w+)"', listed)


def test_every_function_has_its_alarms_as_rollback_triggers():
    t = template()
    assert len(functions(t)) >= 18
    assert missing_alarms(t) == {}
    broken = copy.deepcopy(t)
    del broken["Resources"]["RevokeSessionFunctionErrorsAlarm"]
    assert missing_alarms(broken) == {"RevokeSessionFunction": ["Errors"]}
    broken = copy.deepcopy(t)
    broken["Resources"]["ListDevicesFunction"]["Properties"].pop("DeploymentPreference")
    assert missing_alarms(broken) == {"ListDevicesFunction": ["Errors", "Throttles", "Duration"]}


def test_every_function_has_a_dashboard_widget():
    t = template()
    assert functions_without_widget(t) == []
    broken = copy.deepcopy(t)
    sub = broken["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]
    sub["Fn::Sub"] = sub["Fn::Sub"].replace("${AuthorizerFunction}", "${Nothing}")
    assert functions_without_widget(broken) == ["AuthorizerFunction"]


def test_no_metric_takes_an_identifier_as_a_dimension():
    assert identifier_dimensions(template()) == []
    for name in rust_dimensions():
        assert name in ALLOWED_DIMENSIONS and not IDENTIFIER.search(name), name
    broken = copy.deepcopy(template())
    broken["Resources"]["AuthorizerDenySurgeAlarm"]["Properties"]["Metrics"][1]["MetricStat"]["Metric"][
        "Dimensions"].append({"Name": "UserId", "Value": "alice"})
    assert identifier_dimensions(broken) == ["UserId"]
    assert IDENTIFIER.search("SessionId") and IDENTIFIER.search("SourceIp")


def test_every_function_runs_behind_its_alias_shifted_by_the_deployment_type():
    t = template()
    function_globals = t["Globals"]["Function"]
    assert function_globals["AutoPublishAlias"] == "live"
    assert function_globals["DeploymentPreference"]["Type"] == {"Ref": "DeploymentType"}
    assert function_globals["Tracing"]["Fn::If"][0] == "TracingOn"
    assert t["Parameters"]["Tracing"]["Default"] == "off"
    # The authorizer's callers reach the alias: its permission and its exported ARN.
    assert t["Resources"]["AuthorizerInvokePermission"]["Properties"]["FunctionName"] == {
        "Ref": "AuthorizerFunction.Alias"}
    assert t["Outputs"]["AuthorizerArn"]["Value"] == {"Ref": "AuthorizerFunction.Alias"}


def test_alarms_notify_a_topic_and_are_switched_by_a_parameter():
    t = template()
    for name, alarm in alarms(t).items():
        assert alarm.get("Condition") == "AlarmsOn", name
        action = alarm["Properties"]["AlarmActions"][0]["Fn::If"]
        assert action[0] == "HasAlarmTopic", name
    assert t["Resources"]["AlarmTopic"]["Condition"] == "CreateAlarmTopic"


def test_the_generated_section_is_current():
    run = subprocess.run([sys.executable, str(ROOT / "scripts/operations.py"), "--check"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_stack_tags_for_cost_allocation():
    config = (ROOT / "samconfig.toml").read_text()
    assert re.search(r'^tags = ".*service=.*cost-center=', config, re.MULTILINE), config
