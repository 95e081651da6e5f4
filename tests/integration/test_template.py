"""template.yaml is valid as SAM and as the CloudFormation it transforms into, and matches the code."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from local.api_front import ApiFront
from local.lambdas import load_handler
from local.openapi import api_document
from local.template import (
    ROOT,
    TEMPLATE_PATH,
    Intrinsics,
    UnsupportedTrigger,
    load_template,
    parameter_values,
    read_application,
)
from tests.support import EVENTS_DIR
from videojobs.adapters.dynamodb import ALL_JOBS_INDEX, LIST_INDEXES, LIST_SORT_KEY

CFN_LINT = Path(sys.executable).with_name("cfn-lint")


def cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CFN_LINT), str(path)], capture_output=True, text=True, check=False)  # noqa: S603


def transformed_template(
    monkeypatch: pytest.MonkeyPatch, template: dict[str, Any] | None = None
) -> dict[str, Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    template = template or yaml_parse(TEMPLATE_PATH.read_text())
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                # What `sam package` does: local folders become S3 locations.
                properties[key] = f"s3://artifacts/{properties[key].strip('/')}"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    result: dict[str, Any] = transform(template, {}, NoManagedPolicies())
    return result


def test_cfn_lint_is_clean_on_the_sam_template() -> None:
    run = cfn_lint(TEMPLATE_PATH)
    assert run.returncode == 0, run.stdout + run.stderr


def test_cfn_lint_is_clean_after_the_sam_transform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    output = tmp_path / "transformed.json"
    output.write_text(json.dumps(transformed_template(monkeypatch)))

    run = cfn_lint(output)

    assert run.returncode == 0, run.stdout + run.stderr


def test_snapstart_on_published_versions_is_a_valid_template_whose_callers_invoke_the_alias(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    template = yaml_parse(TEMPLATE_PATH.read_text())
    template["Parameters"]["SnapStart"]["Default"] = "PublishedVersions"
    sam_template, output = tmp_path / "template.json", tmp_path / "transformed.json"
    sam_template.write_text(json.dumps(template))

    transformed = transformed_template(monkeypatch, template)
    output.write_text(json.dumps(transformed))
    resources = transformed["Resources"]

    for run in (cfn_lint(sam_template), cfn_lint(output)):
        assert run.returncode == 0, run.stdout + run.stderr
    functions = {key for key, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    aliases = {
        key: r["Properties"]["FunctionName"]["Ref"]
        for key, r in resources.items()
        if r["Type"] == "AWS::Lambda::Alias"
    }
    assert sorted(aliases.values()) == sorted(functions)
    for function_id in functions:
        assert resources[function_id]["Properties"]["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}
    invoked = [
        r["Properties"]["FunctionName"]
        for r in resources.values()
        if r["Type"] in {"AWS::Lambda::EventSourceMapping", "AWS::Lambda::Permission"}
    ] + [
        r["Properties"]["IntegrationUri"]
        for r in resources.values()
        if r["Type"] == "AWS::ApiGatewayV2::Integration"
    ]
    assert invoked
    assert all(
        reference == {"Ref": reference["Ref"]} and reference["Ref"] in aliases for reference in invoked
    )


def test_the_transformed_lint_catches_what_the_sam_lint_cannot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A bucket that triggers a function whose environment names the bucket: a cycle that only
    # exists once SAM has expanded the S3 event into a notification configuration.
    template = yaml_parse(TEMPLATE_PATH.read_text())
    template["Resources"]["TransferFunction"]["Properties"]["Events"]["Uploaded"] = {
        "Type": "S3",
        "Properties": {"Bucket": {"Ref": "VideosBucket"}, "Events": "s3:ObjectCreated:*"},
    }
    output = tmp_path / "cyclic.json"
    output.write_text(json.dumps(transformed_template(monkeypatch, template)))

    run = cfn_lint(output)

    assert run.returncode != 0
    assert "E3004" in run.stdout  # circular dependency


def test_every_function_uses_one_runtime_and_arm64(monkeypatch: pytest.MonkeyPatch) -> None:
    resources = transformed_template(monkeypatch)["Resources"]
    functions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    layers = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    assert len(functions) == 10
    assert {f["Runtime"] for f in functions} == {"python3.13"}
    assert {tuple(f["Architectures"]) for f in functions} == {("arm64",)}
    assert {tuple(layer["CompatibleRuntimes"]) for layer in layers} == {("python3.13",)}


def test_the_status_check_function_may_schedule_its_own_next_check(monkeypatch: pytest.MonkeyPatch) -> None:
    resources = transformed_template(monkeypatch)["Resources"]

    assert resources["StatusCheckFunction"]["Properties"]["RecursiveLoop"] == "Allow"
    assert resources["StatusCheckQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["StatusCheckDeadLetterQueue", "Arn"]
    }


def test_no_policy_grants_a_wildcard_action_or_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    resources = transformed_template(monkeypatch)["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert "*" not in actions, logical_id
                assert statement.get("Resource") != "*", logical_id


def s3_grants(resources: dict[str, Any], function_id: str) -> set[tuple[str, str]]:
    """(action, resource) of every S3 statement in the function's role, resources as !Sub text."""
    role = resources[resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]]
    grants: set[tuple[str, str]] = set()
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            targets = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            grants |= {
                (action, json.dumps(target, sort_keys=True))
                for action in actions
                if action.startswith("s3:")
                for target in targets
            }
    return grants


def test_the_uploads_function_may_put_under_uploads_and_do_nothing_else_in_s3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A presigned URL carries its signer's rights: this role bounds every URL POST /uploads signs.
    resources = transformed_template(monkeypatch)["Resources"]

    assert s3_grants(resources, "UploadsFunction") == {
        ("s3:PutObject", json.dumps({"Fn::Sub": "${InputsBucket.Arn}/uploads/*"}))
    }


def test_the_status_function_may_get_the_videos_and_last_frames_and_nothing_else_in_s3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resources = transformed_template(monkeypatch)["Resources"]

    assert s3_grants(resources, "StatusFunction") == {
        ("s3:GetObject", json.dumps({"Fn::Sub": "${VideosBucket.Arn}/videos/*"})),
        ("s3:GetObject", json.dumps({"Fn::Sub": "${VideosBucket.Arn}/frames/*"})),
    }


def test_every_route_and_queue_has_a_handler_and_an_event_file() -> None:
    application = read_application()
    for spec in application.functions.values():
        # Loaded as the local runtime (and Lambda) loads it: the module from CodeUri, then Handler.
        assert callable(load_handler(spec)), spec.logical_id
    assert {(r.method, r.path, r.function_id, r.authorizer) for r in application.routes} == {
        ("POST", "/jobs", "IntakeFunction", "AWS_IAM"),
        ("ANY", "/jobs", "IntakeFunction", "AWS_IAM"),
        ("GET", "/jobs", "StatusFunction", "AWS_IAM"),
        ("GET", "/jobs/{job_id}", "StatusFunction", "AWS_IAM"),
        ("ANY", "/jobs/{job_id}", "StatusFunction", "AWS_IAM"),
        ("GET", "/spend", "StatusFunction", "AWS_IAM"),
        ("ANY", "/spend", "StatusFunction", "AWS_IAM"),
        ("GET", "/providers", "StatusFunction", "AWS_IAM"),
        ("ANY", "/providers", "StatusFunction", "AWS_IAM"),
        ("GET", "/jobs/{job_id}/video", "StatusFunction", "AWS_IAM"),
        ("ANY", "/jobs/{job_id}/video", "StatusFunction", "AWS_IAM"),
        ("GET", "/jobs/{job_id}/last-frame", "StatusFunction", "AWS_IAM"),
        ("ANY", "/jobs/{job_id}/last-frame", "StatusFunction", "AWS_IAM"),
        ("GET", "/openapi.json", "StatusFunction", "AWS_IAM"),
        ("ANY", "/openapi.json", "StatusFunction", "AWS_IAM"),
        ("ANY", "$default", "StatusFunction", "AWS_IAM"),
        ("POST", "/jobs/{job_id}/cancel", "CancelFunction", "AWS_IAM"),
        ("ANY", "/jobs/{job_id}/cancel", "CancelFunction", "AWS_IAM"),
        ("POST", "/uploads", "UploadsFunction", "AWS_IAM"),
        ("ANY", "/uploads", "UploadsFunction", "AWS_IAM"),
        ("POST", "/webhooks/{provider}/{job_id}", "CallbackFunction", "NONE"),
        ("ANY", "/webhooks/{provider}/{job_id}", "CallbackFunction", "NONE"),
    }
    event_files = {path.stem for path in EVENTS_DIR.glob("*.json")}
    assert {
        "create_job",
        "s3_drop_message",
        "job_requested_message",
        "dispatch_message",
        "notify_message",
        "get_job",
        "list_jobs",
        "cancel_job",
        "get_spend",
        "get_providers",
        "create_upload",
        "get_job_video",
        "get_job_last_frame",
        "get_openapi",
        "eachlabs_webhook",
        "atlascloud_webhook",
        "jobs_api_callback",
        "fal_webhook",
        "replicate_webhook",
        "byteplus_webhook",
        "transfer_message",
        "transfer_dead_letter_message",
        "dispatch_dead_letter_message",
        "status_check_dead_letter_message",
        "status_check_message",
    } <= event_files
    assert (ROOT / "layers/videojobs/requirements.txt").exists()


JOB_ROUTES = {
    "POST /jobs",
    "ANY /jobs",
    "GET /jobs",
    "GET /jobs/{job_id}",
    "ANY /jobs/{job_id}",
    "POST /jobs/{job_id}/cancel",
    "ANY /jobs/{job_id}/cancel",
    "GET /spend",
    "ANY /spend",
    "GET /providers",
    "ANY /providers",
    "GET /jobs/{job_id}/video",
    "ANY /jobs/{job_id}/video",
    "GET /jobs/{job_id}/last-frame",
    "ANY /jobs/{job_id}/last-frame",
    "GET /openapi.json",
    "ANY /openapi.json",
    "POST /uploads",
    "ANY /uploads",
    "$default",
}
WEBHOOK_ROUTES = {"POST /webhooks/{provider}/{job_id}", "ANY /webhooks/{provider}/{job_id}"}


@pytest.mark.parametrize("authorizer", ["AWS_IAM", "JWT"])
def test_the_api_authorizer_parameter_guards_every_job_route_and_leaves_the_webhook_open(
    monkeypatch: pytest.MonkeyPatch, authorizer: str
) -> None:
    # What CloudFormation makes of the transformed template with these parameter values.
    template = transformed_template(monkeypatch)
    resources = template["Resources"]
    chosen = {"ApiAuthorizer": authorizer, "JwtIssuer": "https://issuer.example", "JwtAudience": "app"}
    refs: dict[str, Any] = {name: name for name in resources}
    refs.update(parameter_values(template["Parameters"], chosen))
    refs["AWS::NoValue"] = None
    deployed = Intrinsics(refs, {}, template["Conditions"])

    routes = {
        r["Properties"]["RouteKey"]: (
            deployed.resolve(r["Properties"]["AuthorizationType"]),
            deployed.resolve(r["Properties"].get("AuthorizerId")),
        )
        for r in resources.values()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
    }

    jwt_authorizer = "JwtAuthorizer" if authorizer == "JWT" else None
    assert routes == {
        **{key: (authorizer, jwt_authorizer) for key in JOB_ROUTES},
        **{key: ("NONE", None) for key in WEBHOOK_ROUTES},
    }
    assert deployed.condition(resources["JwtAuthorizer"]["Condition"]) is (authorizer == "JWT")
    assert resources["JwtAuthorizer"]["Properties"]["JwtConfiguration"] == {
        "Issuer": {"Ref": "JwtIssuer"},
        "Audience": {"Ref": "JwtAudience"},
    }


@pytest.mark.parametrize(
    ("tracing", "mode", "trace_disabled"),
    [("Lambda", "Active", "true"), ("Detailed", "Active", "false"), ("Disabled", "PassThrough", "true")],
)
def test_the_tracing_parameter_sets_lambdas_tracing_and_loads_the_xray_sdk_only_when_detailed(
    monkeypatch: pytest.MonkeyPatch, tracing: str, mode: str, trace_disabled: str
) -> None:
    template = transformed_template(monkeypatch)
    refs: dict[str, Any] = {name: name for name in template["Resources"]}
    refs.update(parameter_values(template["Parameters"], {"Tracing": tracing}))
    deployed = Intrinsics(refs, {}, template["Conditions"])
    functions = [
        r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
    ]

    assert {deployed.resolve(f["TracingConfig"]["Mode"]) for f in functions} == {mode}
    disabled = {
        deployed.resolve(f["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"]) for f in functions
    }
    assert disabled == {trace_disabled}


def test_the_budget_parameters_reach_every_function_and_the_settings_read_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import re

    from videojobs.settings import Settings

    template = transformed_template(monkeypatch)
    chosen = {"BudgetDailyUsd": "12.5", "BudgetMonthlyUsd": ""}
    refs: dict[str, Any] = {name: name for name in template["Resources"]}
    refs.update(parameter_values(template["Parameters"], chosen))
    deployed = Intrinsics(refs, {}, template["Conditions"])
    functions = [
        r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
    ]
    budgets = {
        (
            deployed.resolve(f["Environment"]["Variables"]["BUDGET_DAILY_USD"]),
            deployed.resolve(f["Environment"]["Variables"]["BUDGET_MONTHLY_USD"]),
        )
        for f in functions
    }

    assert budgets == {("12.5", "")}
    resources = {
        name.upper(): "x" for name in Settings.model_fields if name.endswith(("_name", "_queue_url"))
    }
    settings = Settings.load(
        environ={
            **resources,
            "WEBHOOK_TOKEN_SECRET": "s" * 16,
            "BUDGET_DAILY_USD": "12.5",
            "BUDGET_MONTHLY_USD": "",
        }
    )
    assert (str(settings.budget_daily_usd), settings.budget_monthly_usd) == ("12.5", None)
    for name in chosen:
        pattern = re.compile(template["Parameters"][name]["AllowedPattern"])
        assert [bool(pattern.fullmatch(value)) for value in ("", "10", "0.75", "-1", "ten")] == [
            True,
            True,
            True,
            False,
            False,
        ]


def test_a_jwt_api_needs_an_issuer_and_an_audience() -> None:
    rule = load_template()["Rules"]["JwtAuthorizerNeedsIssuerAndAudience"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "ApiAuthorizer"}, "JWT"]}
    asserted = [assertion["Assert"] for assertion in rule["Assertions"]]
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}]} in asserted
    assert {"Fn::Not": [{"Fn::Contains": [{"Ref": "JwtAudience"}, ""]}]} in asserted


def test_every_function_behind_a_route_lets_the_api_invoke_it(monkeypatch: pytest.MonkeyPatch) -> None:
    resources = transformed_template(monkeypatch)["Resources"]
    permitted = {
        # The function's "live" alias (AutoPublishAlias), which the API's integrations invoke.
        r["Properties"]["FunctionName"]["Ref"].removesuffix("Aliaslive"): r["Properties"]["SourceArn"][
            "Fn::Sub"
        ]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission"
        and r["Properties"]["Principal"] == "apigateway.amazonaws.com"
    }
    routed = {route.function_id for route in read_application().routes}
    assert routed == {
        "IntakeFunction",
        "StatusFunction",
        "CancelFunction",
        "CallbackFunction",
        "UploadsFunction",
    }
    for function_id in routed:
        assert permitted[function_id].endswith(":${HttpApi}/*"), function_id


def test_the_local_front_will_not_serve_a_route_whose_authorizer_it_cannot_check() -> None:
    application = read_application(parameter_overrides={"ApiAuthorizer": "JWT"})
    assert {r.authorizer for r in application.routes if r.path.startswith("/jobs")} == {"JWT"}

    with pytest.raises(UnsupportedTrigger, match="JWT"):
        ApiFront(application.routes, {}, host="127.0.0.1", port=0)


def watched_resource(dimension: dict[str, Any]) -> str:
    """The logical id an alarm's dimension names: ``!Ref X`` or ``!GetAtt X.QueueName``."""
    return str(dimension["Ref"]) if "Ref" in dimension else str(dimension["Fn::GetAtt"][0])


def test_the_operator_has_an_alarm_for_every_function_queue_and_the_api() -> None:
    resources = read_application().resources
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched = {
        (alarm["MetricName"], watched_resource(alarm["Dimensions"][0]["Value"]))
        for alarm in alarms
        if "Dimensions" in alarm
    }
    functions = [name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    queues = [name for name, r in resources.items() if r["Type"] == "AWS::SQS::Queue"]
    dead_letter_queues = {
        r["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for r in resources.values()
        if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r["Properties"]
    }

    for function in functions:
        assert ("Errors", function) in watched, function
        assert ("Throttles", function) in watched, function
    for queue in queues:
        metric = (
            "ApproximateNumberOfMessagesVisible"
            if queue in dead_letter_queues
            else "ApproximateAgeOfOldestMessage"
        )
        assert (metric, queue) in watched, queue
    assert ("5xx", "HttpApi") in watched
    assert "ProviderBreakerOpened" in {alarm["MetricName"] for alarm in alarms}
    for alarm in alarms:
        assert alarm["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }


def test_a_breaker_that_opens_is_counted_from_the_submit_functions_log_line_and_alarms() -> None:
    resources = read_application().resources
    metric = resources["ProviderBreakerOpenedMetric"]["Properties"]
    assert metric["LogGroupName"] == {"Ref": "SubmitFunctionLogGroup"}
    # The pattern matches what the dispatcher logs when a breaker opens (logic.dispatch._health_changed).
    assert metric["FilterPattern"] == '{ $.message = "provider health changed" && $.state = "open" }'
    source = (ROOT / "layers/videojobs/videojobs/logic/dispatch.py").read_text()
    assert 'logger.warning("provider health changed", provider=provider, state=state.value' in source
    alarm = resources["ProviderBreakerOpenedAlarm"]["Properties"]
    transform = metric["MetricTransformations"][0]
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        transform["MetricNamespace"],
        transform["MetricName"],
    )


def test_every_function_keeps_its_logs_for_the_retention_parameter_and_the_api_logs_access() -> None:
    resources = read_application().resources
    groups = {
        r["Properties"]["LogGroupName"]["Fn::Sub"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Logs::LogGroup" and "LogGroupName" in r["Properties"]
    }
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert groups[f"/aws/lambda/${{{name}}}"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    access = resources["HttpApiStage"]["Properties"]["AccessLogSettings"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert "$context.status" in access["Format"]


def test_the_api_document_declares_what_api_gateway_answers_before_a_function_runs() -> None:
    paths = api_document()["paths"]
    operations = {
        "POST /jobs": paths["/jobs"]["post"],
        "GET /jobs/{job_id}": paths["/jobs/{job_id}"]["get"],
        "POST /webhooks/{provider}/{job_id}": paths["/webhooks/{provider}/{job_id}"]["post"],
    }
    for label, operation in operations.items():
        assert "429" in operation["responses"], label
        signed = label in JOB_ROUTES
        assert ("403" in operation["responses"]) is signed, label


def test_every_listing_index_the_job_store_queries_is_on_the_jobs_table() -> None:
    table = read_application().resources["JobsTable"]["Properties"]
    declared = {
        index["IndexName"]: (
            [(key["AttributeName"], key["KeyType"]) for key in index["KeySchema"]],
            index["Projection"]["ProjectionType"],
        )
        for index in table["GlobalSecondaryIndexes"]
    }
    types = {
        attribute["AttributeName"]: attribute["AttributeType"] for attribute in table["AttributeDefinitions"]
    }

    assert declared == {
        index.name: ([(index.partition_key, "HASH"), (LIST_SORT_KEY, "RANGE")], "ALL")
        for index in (*LIST_INDEXES, ALL_JOBS_INDEX)
    }
    assert types == {
        "job_id": "S",
        LIST_SORT_KEY: "N",
        **{index.partition_key: "S" for index in (*LIST_INDEXES, ALL_JOBS_INDEX)},
    }


# -- every variable the functions read is declared: `sam local` passes a function only those -----------
def variables_the_settings_read() -> set[str]:
    """From the code, not a list: each Settings field (the providers' container aside) and each provider
    unit's settings, as environment variables."""
    from videojobs.providers import UNITS
    from videojobs.settings import Settings, setting_names

    own = {name for name in Settings.model_fields if name != "providers"}
    units = {unit.setting_name(name) for unit in UNITS.values() for name in unit.settings_model.model_fields}
    assert own | units == set(setting_names())
    return {name.upper() for name in own | units}


def variables_the_secrets_hold() -> set[str]:
    """The keys of the template's generated secrets (read through SECRETS_NAME, never declared)."""
    held: set[str] = set()
    for resource in load_template()["Resources"].values():
        if resource["Type"] == "AWS::SecretsManager::Secret":
            spec = resource["Properties"]["GenerateSecretString"]
            held |= {*json.loads(spec["SecretStringTemplate"]), spec["GenerateStringKey"]}
    return held


def test_every_variable_the_settings_read_is_declared_for_every_function_or_held_by_a_secret() -> None:
    """Every function loads the same settings (bootstrap.load_settings), so each needs each of them:
    a variable the template does not declare is one `sam local invoke --env-vars` cannot set."""
    read, held = variables_the_settings_read(), variables_the_secrets_hold()

    assert held <= read
    assert {"WEBHOOK_TOKEN_SECRET", "EACHLABS_API_KEY", "NOTIFY_SIGNING_SECRET"} <= held
    for spec in read_application().functions.values():
        assert sorted(read - held - set(spec.environment)) == [], spec.logical_id
        assert sorted(held & set(spec.environment)) == [], spec.logical_id


def test_the_template_declares_no_variable_that_nothing_reads() -> None:
    """Besides the settings: Powertools' own variables, and boto3's AWS_ENDPOINT_URL (empty deployed;
    env.json points it at the local stack's moto)."""
    read = variables_the_settings_read()
    for spec in read_application().functions.values():
        others = {name for name in spec.environment if name not in read}
        assert {name for name in others if not name.startswith("POWERTOOLS_")} == {"AWS_ENDPOINT_URL"}
        assert spec.environment["AWS_ENDPOINT_URL"] == ""


def test_each_functions_variables_fit_lambdas_4_kb_with_a_40_character_stack_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lambda refuses a function whose variables, as compact JSON, pass 4 KB. Names shaped as
    CloudFormation makes them ("<stack>-<logical id>-<13 characters>"; a secret's "<logical id>-<12>"),
    for a long stack name. About 3.9 KB: a new setting must find its room here first."""
    stack, suffix, arn = "s" * 40, "ABCDEFGHIJKLM", "arn:aws:secretsmanager:eu-central-1:123456789012:secret"
    template = transformed_template(monkeypatch)
    refs = {"AWS::StackName": stack, "AWS::Region": "eu-central-1", "AWS::URLSuffix": "amazonaws.com"}
    for logical_id, resource in template["Resources"].items():
        name = f"{stack}-{logical_id}-{suffix}"
        refs[logical_id] = {
            "AWS::SQS::Queue": f"https://sqs.eu-central-1.amazonaws.com/123456789012/{name[:80]}",
            "AWS::SecretsManager::Secret": f"{arn}:{logical_id}-{suffix[:12]}-AbCdEf",
            "AWS::S3::Bucket": name.lower()[:63],
            "AWS::ApiGatewayV2::Api": "a1b2c3d4e5",
        }.get(resource["Type"], name)
    refs.update(parameter_values(template["Parameters"]))
    deployed = Intrinsics(refs, {}, template["Conditions"])
    sizes = {
        logical_id: len(
            json.dumps(
                deployed.resolve(resource["Properties"]["Environment"]["Variables"]), separators=(",", ":")
            )
        )
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }

    assert len(sizes) == 10
    assert max(sizes.values()) < 4096, sizes


def test_samconfig_has_a_region_a_watching_sync_and_a_dev_stack_whose_overrides_the_template_takes() -> None:
    import re
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    default, dev = config["default"], config["dev"]
    parameters = load_template()["Parameters"]

    assert default["global"]["parameters"]["region"] == dev["global"]["parameters"]["region"] == "us-east-1"
    assert default["sync"]["parameters"]["watch"] is True
    assert dev["global"]["parameters"]["stack_name"] != default["global"]["parameters"]["stack_name"]
    for command in ("deploy", "sync"):
        given = dev[command]["parameters"]["parameter_overrides"].split()
        overrides = dict(pair.split("=", 1) for pair in given)
        assert len(overrides) == len(given) > 0, command
        for name, value in overrides.items():
            spec = parameters[name]
            assert value in [str(allowed) for allowed in spec.get("AllowedValues", [value])], name
            assert re.fullmatch(spec.get("AllowedPattern", ".*"), value), name
            if spec["Type"] == "Number":
                assert (
                    spec.get("MinValue", float("-inf")) <= float(value) <= spec.get("MaxValue", float("inf"))
                ), name
