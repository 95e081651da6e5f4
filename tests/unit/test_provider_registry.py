"""One registry of provider units, equal to the public ProviderName, and each unit whole."""

import ast
from datetime import timedelta
from pathlib import Path
from typing import get_args

import httpx
import pytest
from pydantic import SecretStr

from local.template import load_template
from videojobs.errors import CancelRefused
from videojobs.models import ProviderName, utc_now
from videojobs.providers import UNITS
from videojobs.providers.unit import AdapterContext, ProviderSettings
from videojobs.settings import Settings, setting_names

PROVIDERS_DIR = Path(__file__).resolve().parents[2] / "layers" / "videojobs" / "videojobs" / "providers"
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def test_the_registry_lists_exactly_the_provider_names_in_order() -> None:
    assert tuple(UNITS) == get_args(ProviderName)


@pytest.mark.parametrize("name", list(UNITS))
def test_each_unit_is_a_package_named_after_its_provider_with_an_adapter(name: str) -> None:
    unit = UNITS[name]

    assert unit.name == name
    assert (PROVIDERS_DIR / name / "__init__.py").is_file()
    assert (PROVIDERS_DIR / name / "adapter.py").is_file()
    assert issubclass(unit.settings_model, ProviderSettings)


@pytest.mark.parametrize("name", list(UNITS))
def test_a_unit_module_imports_no_adapter_or_httpx_at_module_level(name: str) -> None:
    tree = ast.parse((PROVIDERS_DIR / name / "__init__.py").read_text())
    top_level = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]

    assert [module for module in top_level if module and ("adapter" in module or "httpx" in module)] == []


@pytest.mark.parametrize("name", list(UNITS))
def test_a_unit_reads_its_settings_from_its_own_environment_variables(name: str) -> None:
    unit = UNITS[name]
    environment = {
        unit.setting_name("base_url").upper(): f"https://{name}.example.com/api",
        unit.setting_name("api_key").upper(): f"{name}-key",
        unit.setting_name("max_concurrent").upper(): "7",
    }

    settings = Settings.load(environ={**_required(), **environment})

    assert settings.provider_base_url(name) == f"https://{name}.example.com/api"
    assert [key.get_secret_value() for key in settings.provider_api_keys(name)] == [f"{name}-key"]
    assert settings.provider_key_limits(name).max_concurrent == 7
    assert set(unit.setting_names()) <= set(setting_names())


def test_a_bad_provider_setting_is_refused_naming_its_variable() -> None:
    with pytest.raises(ValueError, match="EACHLABS_MAX_CONCURRENT"):
        Settings.load(environ={**_required(), "EACHLABS_MAX_CONCURRENT": "0"})


def test_every_provider_key_is_in_the_template_secret() -> None:
    template = TEMPLATE.read_text()

    for unit in UNITS.values():
        for field_name in ("api_key", "api_keys"):
            assert f'"{unit.setting_name(field_name).upper()}": ""' in template


def _required() -> dict[str, str]:
    from tests.support import REQUIRED_SETTINGS

    return dict(REQUIRED_SETTINGS)


@pytest.mark.parametrize("name", ["atlascloud", "gateway", "jobs_api"])
def test_a_dialect_without_a_documented_cancel_refuses_without_calling(name: ProviderName) -> None:
    calls: list[httpx.Request] = []
    client = httpx.Client(
        transport=httpx.MockTransport(lambda request: calls.append(request) or httpx.Response(500))
    )
    context = AdapterContext(client=client, clock=utc_now, max_webhook_age=timedelta(minutes=5))
    unit = UNITS[name]
    adapter = unit.adapter(unit.read_settings({}), context, "https://provider.example.com", SecretStr("k"))

    with pytest.raises(CancelRefused) as refused:
        adapter.cancel("prediction-1")

    assert refused.value.unsupported
    assert calls == []


def test_the_drop_default_provider_parameter_allows_exactly_the_registered_providers() -> None:
    parameter = load_template(TEMPLATE)["Parameters"]["DropDefaultProvider"]

    assert parameter["AllowedValues"] == ["", *UNITS, "auto"]
