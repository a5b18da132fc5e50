"""deploy/helm/values.yaml against the Dagster Helm chart's own values schema.

No `helm` binary here, so the file is checked the way `helm install` checks it, against the
chart's values.schema.json (deploy/helm/schema/), with two differences:

- Helm validates the *merged* values (chart defaults + this file), so a top-level or nested
  map may leave out what the defaults supply: `required` is not enforced for maps. List
  items are not merged by Helm, so those (the code location, the tag limits) are checked
  against their definitions with `required` kept.
- The schema's Kubernetes types are remote $refs (kubernetesjsonschema.dev): offline, they
  are checked only as far as the schema says locally (object, array, ...).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
VALUES = ROOT / "deploy" / "helm" / "values.yaml"
SCHEMA = ROOT / "deploy" / "helm" / "schema" / "values.schema.json"
PROFILE = ROOT / "dagster.production.yaml"

SECRET_NAMES = {
    "LABOUR_TRUST_LINKAGE_KEY",
    "LABOUR_TRUST_SHARING_SECRET",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "DAGSTER_PG_PASSWORD",
}


def _offline(node: Any, *, keep_required: bool) -> Any:
    """The schema without remote $refs (and, unless kept, without `required` lists)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                continue
            if key == "required" and isinstance(value, list) and not keep_required:
                continue
            out[key] = _offline(value, keep_required=keep_required)
        return out
    if isinstance(node, list):
        return [_offline(item, keep_required=keep_required) for item in node]
    return node


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA.read_text())


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def _validate(schema: dict, instance: Any) -> None:
    validator = jsonschema.Draft7Validator(_offline(schema, keep_required=False))
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def _validate_definition(schema: dict, name: str, instance: Any) -> None:
    """One list item against its definition, `required` enforced (Helm does not merge it)."""
    full = _offline(schema, keep_required=True)
    item_schema = {"$ref": f"#/definitions/{name}", "definitions": full["definitions"]}
    jsonschema.Draft7Validator(item_schema).validate(instance)


def test_values_match_the_chart_schema(schema, values):
    _validate(schema, values)
    for deployment in values["dagster-user-deployments"]["deployments"]:
        _validate_definition(schema, "UserDeployment", deployment)
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    for limit in queued["tagConcurrencyLimits"]:
        _validate_definition(schema, "TagConcurrencyLimit", limit)


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("runLauncher", "type"), "K8sLauncher"),
        (("runLauncher", "config", "k8sRunLauncher", "volume"), []),
        (("postgresql", "service", "port"), "5432"),
        (("dagsterDaemon", "runCoordinator", "config", "queuedRunCoordinator", "limit"), 1),
    ],
)
def test_schema_check_is_not_vacuous(schema, values, path, bad):
    broken = copy.deepcopy(values)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = bad
    with pytest.raises(AssertionError):
        _validate(schema, broken)


def test_code_location_and_launcher(values):
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert values["dagster-user-deployments"]["enabled"] is True
    assert deployment["port"] == 4000
    assert deployment["codeServerArgs"] == ["-m", "labour_trust.definitions"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    assert deployment["env"]["LABOUR_TRUST_STORE"].startswith("s3://")
    assert {"name": "labour-trust-secrets"} in deployment["envSecrets"]

    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    assert {"name": "labour-trust-secrets"} in launcher["config"]["k8sRunLauncher"]["envSecrets"]


def test_postgres_comes_from_a_secret(values):
    pg = values["postgresql"]
    assert pg["enabled"] is False
    assert pg["postgresqlHost"]
    assert pg["postgresqlPassword"] == ""
    assert pg["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]


def _walk(node: Any, path: tuple = ()):
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*path, i))


def test_no_volumes_and_no_secrets_in_the_file(values):
    for path, node in _walk(values):
        if path and path[-1] in ("volumes", "volumeMounts"):
            assert node == [], f"{path}: run and code pods need no volume"
        if path and path[-1] in ("env", "envVars"):
            names = set(node) if isinstance(node, dict) else {str(v).split("=")[0] for v in node}
            assert not names & SECRET_NAMES, f"{path}: secrets belong in a Kubernetes Secret"


def test_run_queue_matches_the_non_k8s_profile(values):
    """The chart's run queue and dagster.production.yaml's must not drift apart."""
    helm = values["dagsterDaemon"]["runCoordinator"]
    assert helm["enabled"] is True and helm["type"] == "QueuedRunCoordinator"
    helm_queue = helm["config"]["queuedRunCoordinator"]
    profile = yaml.safe_load(PROFILE.read_text())
    profile_queue = profile["run_coordinator"]["config"]
    assert helm_queue["maxConcurrentRuns"] == profile_queue["max_concurrent_runs"]
    assert helm_queue["tagConcurrencyLimits"] == profile_queue["tag_concurrency_limits"]
    assert helm_queue["dequeueIntervalSeconds"] == profile_queue["dequeue_interval_seconds"]
    assert values["telemetry"]["enabled"] is False
    assert values["additionalInstanceConfig"]["nux"]["enabled"] is False
    assert (
        values["dagsterDaemon"]["runRetries"]["maxRetries"]
        == (profile["run_retries"]["max_retries"])
    )
