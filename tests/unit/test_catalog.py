"""The datastore declarations are the one source: models, settings, backends and renderers follow them."""

from __future__ import annotations

from reconciler import catalog
from reconciler.backends.base import Capabilities
from reconciler.manifest.models import DATASTORE_MODELS, Datastore
from reconciler.validation.probes import PROBES
from tests.builders import blob, declared

COMMON = set(Datastore.model_fields) | {"type"}


def test_every_declared_type_has_a_generated_model_with_exactly_its_fields() -> None:
    assert list(DATASTORE_MODELS) == list(catalog.TYPES)
    for name, spec in catalog.TYPES.items():
        model = DATASTORE_MODELS[name]
        own = [f for f in model.model_fields if f not in COMMON and f != "credentials"]
        assert own == list(spec.field_names), name
        assert ("credentials" in model.model_fields) == bool(spec.credentials), name
        for f in spec.fields:
            assert model.model_fields[f.name].is_required() == f.required, (name, f.name)


def test_settings_follow_the_declared_order_and_fill_in_defaults() -> None:
    settings = dict(declared(blob()).settings)
    assert list(settings) == [*catalog.COMMON_SETTINGS, *catalog.TYPES["azure_blob"].field_names, "credentials"]
    assert settings["endpoint"] == "core.windows.net" and settings["protocol"] == "https"


def test_capabilities_probes_and_location_read_the_declarations() -> None:
    caps = Capabilities()
    for name, spec in catalog.TYPES.items():
        assert caps.immutable_fields[name] == spec.create_only | {"type"}
        assert name in PROBES
    assert catalog.location({"type": "one_lake", "one_lake_workspace_name": "w", "artifact": {"name": "a"}}) == "w/a"
    assert catalog.location({"type": "unknown", "account_name": "x"}) == ""
