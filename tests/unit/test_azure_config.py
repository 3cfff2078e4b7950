"""Tuning numbers from the environment: one parser, one rule for ARM and Key Vault alike."""

from __future__ import annotations

import pytest

from reconciler.azure import cloud, keyvault
from reconciler.azure.cloud import ArmConfig, env_number
from reconciler.errors import BackendError


def test_unset_or_blank_is_the_default() -> None:
    assert env_number("N", 3, int, {}) == 3
    assert env_number("N", 0.5, float, {"N": "  "}) == 0.5
    assert env_number("N", 3, int, {"N": " 7 "}) == 7


@pytest.mark.parametrize(
    ("text", "kind", "said"),
    [
        ("x", int, "whole number"),
        ("1.5", int, "whole number"),
        ("fast", float, "number"),
        ("-1", float, "must not be negative"),
    ],
)
def test_anything_else_is_an_error_naming_the_variable(text: str, kind: type, said: str) -> None:
    with pytest.raises(BackendError, match=f"N={text!r}.*{said}"):
        env_number("N", 1, kind, {"N": text})


def test_arm_and_key_vault_refuse_the_same_typo(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BackendError, match=cloud.RETRY_TOTAL_ENV):
        ArmConfig.from_env({cloud.RETRY_TOTAL_ENV: "three"})
    monkeypatch.setenv(keyvault.RETRY_TOTAL_ENV, "three")
    with pytest.raises(BackendError, match=keyvault.RETRY_TOTAL_ENV):
        keyvault.KeyVaultFetcher()


def test_one_cloud_table_serves_sign_in_and_the_trust_policy() -> None:
    """Every cloud's ARM-side hosts are hosts the trust policy lets a secret go to."""
    from reconciler.clouds import CLOUDS
    from reconciler.secrets.trust import Destination, is_cloud_host

    for c in CLOUDS.values():
        assert cloud.CLOUDS[c.name.lower()] is c
        for service, host in [
            ("aad", c.authority_host),
            ("keyvault", f"contoso.{c.keyvault_dns_suffix}"),
            ("blob", f"acct.blob.{c.storage_endpoint}"),
            ("dfs", f"acct.dfs.{c.storage_endpoint}"),
        ]:
            assert is_cloud_host(Destination(service, host)), (c.name, service, host)
    assert not is_cloud_host(Destination("blob", "acct.blob.core.windows.net.evil.example"))
