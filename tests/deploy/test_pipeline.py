""".gitlab-ci.yml and docker/compose.yaml: schema-valid, and they do what operations rely on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, VENV_BIN, find_tool

PIPELINE = ROOT / ".gitlab-ci.yml"
COMPOSE = ROOT / "docker" / "compose.yaml"


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    tool = find_tool("check-jsonschema", "pip install check-jsonschema", VENV_BIN / "check-jsonschema")
    return subprocess.run(
        [tool, "--builtin-schema", schema, str(path)], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def pipeline() -> dict:
    return yaml.safe_load(PIPELINE.read_text())


def scripts(job: dict) -> list[str]:
    return [*job.get("before_script", []), *job.get("script", [])]


@pytest.mark.parametrize(("schema", "path"), [("vendor.gitlab-ci", PIPELINE), ("vendor.compose-spec", COMPOSE)])
def test_it_matches_the_published_schema(schema, path):
    result = check_jsonschema(schema, path)

    assert result.returncode == 0, result.stdout + result.stderr


def test_it_rejects_a_broken_pipeline_so_the_schema_check_is_real(tmp_path, pipeline):
    broken = dict(pipeline)
    broken["plan"] = {**pipeline["plan"], "artifacts": {**pipeline["plan"]["artifacts"], "expire_in": ["1 day"]}}
    path = tmp_path / ".gitlab-ci.yml"
    path.write_text(yaml.safe_dump(broken))

    assert check_jsonschema("vendor.gitlab-ci", path).returncode != 0


def test_it_runs_the_readmes_make_test_with_postgresql_first(pipeline):
    assert pipeline["stages"] == ["test", "build", "validate", "plan", "apply", "destroy"]
    test = pipeline["test"]
    assert test["stage"] == "test"
    assert "make test" in test["script"]
    assert "make test" in (ROOT / "README.md").read_text()
    assert any(
        "postgres" in (service["name"] if isinstance(service, dict) else service) for service in test["services"]
    )
    assert test["variables"]["REQUIRE_POSTGRES"] == "1"
    assert "@postgres:5432/" in test["variables"]["PG_URL"]


def test_it_builds_and_pushes_the_image_tagged_with_the_pipeline_id(pipeline):
    build = pipeline["build"]
    lines = " ".join(scripts(build))

    assert "docker build" in lines
    assert "--target runtime" in lines
    assert re.search(r"docker push \"?\$CI_REGISTRY_IMAGE:\$IMAGE_TAG", lines)
    assert pipeline["variables"]["IMAGE_TAG"] in {"${CI_PIPELINE_IID}", "${CI_PIPELINE_ID}"}
    assert pipeline["variables"]["TF_VAR_container_image_tag"] == pipeline["variables"]["IMAGE_TAG"]
    assert "--password-stdin" in lines


def test_it_never_writes_a_secret_into_a_file(pipeline):
    secret = re.compile(r"\$\{?[A-Z_]*(PASSWORD|SECRET|TOKEN|_KEY)\b")
    for name, job in pipeline.items():
        if not isinstance(job, dict):
            continue
        for line in scripts(job):
            if secret.search(line):
                assert not re.search(r"sed -i|>\s*\S|tee ", line), f"job {name} writes a secret to a file: {line}"


def test_it_applies_the_reviewed_plan_after_the_build(pipeline):
    plan, apply = pipeline["plan"], pipeline["apply"]

    assert "infrastructure/plan.tfplan" in plan["artifacts"]["paths"]
    assert any("-out=plan.tfplan" in line for line in scripts(plan))
    assert {need["job"] for need in apply["needs"]} == {"plan", "build"}
    assert any("apply -input=false plan.tfplan" in line for line in scripts(apply))


def test_it_offers_manual_destroy_of_the_app_only_or_everything(pipeline):
    for name in ("destroy-app", "destroy-all"):
        job = pipeline[name]
        assert job["stage"] == "destroy"
        assert [rule.get("when") for rule in job["rules"]] == ["manual"]
    app_only = " ".join(scripts(pipeline["destroy-app"]))
    assert "-target=azurerm_service_plan.main" in app_only
    for kept in ("azurerm_resource_group", "azurerm_mssql_server", "azurerm_mssql_database"):
        assert kept not in app_only


def test_it_runs_the_app_with_postgresql_on_a_volume_and_nginx_as_an_option():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]

    assert set(services) >= {"app", "db", "nginx"}
    assert services["app"]["build"]["target"] == "runtime"
    assert services["app"]["environment"]["DATABASE_URL"].startswith("postgres://")
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in services["db"]["volumes"])
    assert "pgdata" in compose["volumes"]
    assert services["nginx"]["profiles"] == ["nginx"]
    assert services["nginx"]["build"]["target"] == "nginx"
    assert "nginx" not in services["app"].get("profiles", [])


def test_it_has_nginx_serve_static_files_and_forward_the_client_headers():
    conf = (ROOT / "docker" / "nginx.conf").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()

    static_dir = re.search(r"location /static/ \{\s*alias (\S+);", conf).group(1).rstrip("/")
    assert f"/app/staticfiles {static_dir}" in dockerfile, "nginx serves a directory the image does not fill"
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Host"):
        assert re.search(rf"proxy_set_header {header} \$", conf), f"nginx does not forward {header}"
    assert "proxy_pass http://" in conf
