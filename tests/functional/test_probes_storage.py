"""Storage probes against Azurite, through the real CLI on a local workspace.

Blob: account key and SAS work; a read-only SAS (no list), an expired SAS, a wrong key and a
missing container fail the plan with Azurite's own code and message, and apply writes nothing.
ADLS Gen2: a second Azurite serves HTTPS with ``--oauth basic``; the service principal signs in
at the fake Entra ID (JWT access tokens with the claims Azurite checks), then reads the
filesystem's properties with that bearer token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import Project
from tests.fakes.aad import FakeAad, client_certificate
from tests.fakes.tls import TlsMaterial, generate_tls
from tests.functional.probe_support import (
    FAILED_HEADLINE,
    blob_entry,
    failures,
    probe_line,
    registered,
    unique,
    write_manifest,
)
from tests.services.azurite import Azurite

WRONG_KEY = "d3Jvbmcga2V5" * 7 + "AA=="
AUTHORIZATION_FAILURE = (
    "AuthorizationFailure: Server failed to authenticate the request. Make sure the value of the Authorization "
    "header is formed correctly including the signature. (HTTP 403)"
)
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SP_CLIENT = "3b1f2c9d-8e4a-4f6b-9c2d-1a2b3c4d5e6f"
CERT_CLIENT = "3b1f2c9d-8e4a-4f6b-9c2d-1a2b3c4d5e70"
UNKNOWN_CLIENT = "3b1f2c9d-8e4a-4f6b-9c2d-1a2b3c4d5e71"
SP_SECRET = "sp-secret-for-probes"


@pytest.fixture(scope="module")
def container(azurite: Azurite) -> str:
    """One container with one blob, shared by the blob tests of this module."""
    name = unique("probed")
    azurite.create_container(name).upload_blob("hello.txt", b"hello")
    return name


# ------------------------------------------------------------------------------ azure_blob


def test_account_key_and_sas_validate_then_apply_registers_with_validation(
    project: Project, azurite: Azurite, container: str
) -> None:
    endpoint = azurite.endpoint_for_manifest
    write_manifest(
        project,
        blob_entry("keyed", container, endpoint, {"account_key": "${env:KEY}"}),
        blob_entry("container_sas", container, endpoint, {"sas_token": "${env:SAS}"}),
        blob_entry("account_sas", container, endpoint, {"sas_token": "${env:ACCOUNT_SAS}"}),
    )
    project.env = {
        "RECONCILER_WORKSPACE": project.workspace,
        "KEY": azurite.account_key,
        "SAS": "?" + azurite.sas_token(container, "rl"),  # a leading "?" as the portal copies it
        "ACCOUNT_SAS": azurite.account_sas("rl"),
    }
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.all
    for name in ("keyed", "container_sas", "account_sas"):
        assert probe_line(plan, name).startswith(f"ok {name} (azure_blob) [")
    assert plan.out.splitlines()[-1] == "Plan: 3 to create, 0 to update, 0 to replace, 0 to delete, 0 to revalidate."

    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    assert {name: d.validated for name, d in registered(project).items()} == {
        "keyed": True,
        "container_sas": True,
        "account_sas": True,
    }
    assert azurite.account_key not in plan.all + applied.all and "sig=" not in plan.all + applied.all


def test_failing_blob_probes_list_every_storage_reason_and_nothing_is_applied(
    project: Project, azurite: Azurite, container: str
) -> None:
    endpoint = azurite.endpoint_for_manifest
    missing = unique("missing")
    write_manifest(
        project,
        blob_entry("good", container, endpoint, {"account_key": "${env:KEY}"}),
        blob_entry("read_only", container, endpoint, {"sas_token": "${env:READ_ONLY_SAS}"}),
        blob_entry("expired", container, endpoint, {"sas_token": "${env:EXPIRED_SAS}"}),
        blob_entry("wrong_key", container, endpoint, {"account_key": "${env:WRONG_KEY}"}),
        blob_entry("no_container", missing, endpoint, {"account_key": "${env:KEY}"}),
    )
    project.env = {
        "RECONCILER_WORKSPACE": project.workspace,
        "KEY": azurite.account_key,
        "READ_ONLY_SAS": azurite.sas_token(container, "r"),
        "EXPIRED_SAS": azurite.expired_sas(container),
        "WRONG_KEY": WRONG_KEY,
    }
    expected = {
        "read_only": "AuthorizationPermissionMismatch: This request is not authorized to perform this operation "
        "using this permission. (HTTP 403)",
        "expired": AUTHORIZATION_FAILURE,
        "wrong_key": AUTHORIZATION_FAILURE,
        "no_container": "ContainerNotFound: The specified container does not exist. (HTTP 404)",
    }

    plan = project.run("plan")
    assert plan.code == 1, plan.all
    assert failures(plan) == expected
    assert "(4 errors):" in plan.err
    assert probe_line(plan, "good").startswith("ok good (azure_blob)")
    assert probe_line(plan, "no_container") == f"FAILED no_container (azure_blob): {expected['no_container']}"
    assert plan.out.splitlines()[-1] == "Plan: 5 to create, 0 to update, 0 to replace, 0 to delete, 0 to revalidate."

    applied = project.run("apply", "--auto-approve")
    assert applied.code == 1, applied.all
    assert failures(applied) == expected
    assert "creating..." not in applied.out and "Apply complete" not in applied.out
    assert registered(project) == {}

    output = plan.all + applied.all
    assert "sig=" not in output and WRONG_KEY not in output and azurite.account_key not in output


def test_json_plan_lists_the_probe_results(project: Project, azurite: Azurite, container: str) -> None:
    endpoint = azurite.endpoint_for_manifest
    write_manifest(
        project,
        blob_entry("good", container, endpoint, {"account_key": "${env:KEY}"}),
        blob_entry("no_container", unique("missing"), endpoint, {"account_key": "${env:KEY}"}),
        blob_entry("unchecked", unique("vnet"), endpoint, {"account_key": "${env:KEY}"}, skip_validation=True),
    )
    project.env = {"RECONCILER_WORKSPACE": project.workspace, "KEY": azurite.account_key}
    result = project.run("plan", "--format", "json")
    assert result.code == 1
    rows = json.loads(result.out)["validation"]
    assert [(r["name"], r["outcome"], r["message"]) for r in rows] == [
        ("good", "ok", ""),
        ("no_container", "failed", "ContainerNotFound: The specified container does not exist. (HTTP 404)"),
    ]
    assert FAILED_HEADLINE in result.err


# ------------------------------------------------------------------------------ azure_data_lake_gen2


@dataclass
class OAuthStorage:
    """Azurite over HTTPS with --oauth basic, and the fake Entra ID that issues its tokens."""

    azurite: Azurite
    aad: FakeAad
    tls: TlsMaterial
    env: dict[str, str]
    certificate: bytes
    thumbprint: str

    def lake(self, name: str, filesystem: str, credentials: dict[str, str]) -> dict[str, object]:
        return {
            "name": name,
            "type": "azure_data_lake_gen2",
            "account_name": self.azurite.account_name,
            "filesystem": filesystem,
            "endpoint": self.azurite.endpoint_for_manifest,
            "protocol": "https",
            "credentials": {"tenant_id": TENANT, "authority_url": self.aad.url, **credentials},
        }


@pytest.fixture(scope="module")
def oauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuthStorage]:
    tls = generate_tls(tmp_path_factory.mktemp("oauth-tls"))
    with (
        FakeAad(tls=tls, jwt_tokens=True) as aad,
        Azurite(oauth="basic", cert_file=tls.cert_file, key_file=tls.key_file, ca_file=tls.ca_file) as azurite,
    ):
        full = aad.environment(TENANT, SP_CLIENT, SP_SECRET)
        # Only what routes and trusts the fakes: the probes sign in with the manifest's credentials.
        env = {k: full[k] for k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "HTTPS_PROXY", "NO_PROXY")}
        certificate, thumbprint = client_certificate()
        aad.register_certificate_client(TENANT, CERT_CLIENT, certificate)
        yield OAuthStorage(azurite, aad, tls, env, certificate, thumbprint)


def test_gen2_service_principal_and_certificate_validate_with_bearer_tokens(
    project: Project, oauth: OAuthStorage
) -> None:
    filesystem = unique("lake")
    oauth.azurite.create_filesystem(filesystem)
    project.write("certs/sp.pem", oauth.certificate.decode())
    write_manifest(
        project,
        oauth.lake("lake_secret", filesystem, {"client_id": SP_CLIENT, "client_secret": "${env:SP_SECRET}"}),
        oauth.lake(
            "lake_cert",
            filesystem,
            {"client_id": CERT_CLIENT, "certificate": "${file:certs/sp.pem}", "thumbprint": oauth.thumbprint},
        ),
    )
    project.env = {**oauth.env, "RECONCILER_WORKSPACE": project.workspace, "SP_SECRET": SP_SECRET}
    issued_before = len(oauth.aad.issued)

    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.all
    assert probe_line(plan, "lake_secret").startswith("ok lake_secret (azure_data_lake_gen2)")
    assert probe_line(plan, "lake_cert").startswith("ok lake_cert (azure_data_lake_gen2)")
    tokens = oauth.aad.issued[issued_before:]
    assert {(t["client_id"], t["scope"]) for t in tokens} == {
        (SP_CLIENT, "https://storage.azure.com/.default"),
        (CERT_CLIENT, "https://storage.azure.com/.default"),
    }

    applied = project.run("apply", "--auto-approve")
    assert applied.code == 0, applied.all
    assert {n: d.validated for n, d in registered(project).items()} == {"lake_secret": True, "lake_cert": True}
    assert SP_SECRET not in plan.all + applied.all and "PRIVATE KEY" not in plan.all + applied.all


def test_gen2_failures_carry_entra_ids_and_the_storages_reasons(project: Project, oauth: OAuthStorage) -> None:
    filesystem = unique("lake")
    oauth.azurite.create_filesystem(filesystem)
    project.write("certs/sp.pem", oauth.certificate.decode())
    secret = {"client_id": SP_CLIENT, "client_secret": "${env:SP_SECRET}"}
    write_manifest(
        project,
        oauth.lake("wrong_secret", filesystem, {"client_id": SP_CLIENT, "client_secret": "${env:WRONG}"}),
        oauth.lake("unknown_client", filesystem, {"client_id": UNKNOWN_CLIENT, "client_secret": "${env:SP_SECRET}"}),
        oauth.lake("no_filesystem", unique("nolake"), secret),
        oauth.lake("wrong_audience", filesystem, {**secret, "resource_url": "https://management.azure.com/"}),
        oauth.lake(
            "wrong_thumbprint",
            filesystem,
            {"client_id": CERT_CLIENT, "certificate": "${file:certs/sp.pem}", "thumbprint": "AB" * 20},
        ),
    )
    project.env = {
        **oauth.env,
        "RECONCILER_WORKSPACE": project.workspace,
        "SP_SECRET": SP_SECRET,
        "WRONG": "not-the-right-secret",
    }

    plan = project.run("plan")
    assert plan.code == 1, plan.all
    reasons = failures(plan)
    assert set(reasons) == {"wrong_secret", "unknown_client", "no_filesystem", "wrong_audience", "wrong_thumbprint"}
    assert reasons["wrong_secret"].startswith(
        f"cannot sign in as {SP_CLIENT}: AADSTS7000215: Invalid client secret provided."
    )
    assert "Trace ID" not in reasons["wrong_secret"]
    assert reasons["no_filesystem"] == "ContainerNotFound: The specified container does not exist. (HTTP 404)"
    assert reasons["wrong_audience"] == (
        "AuthenticationFailed: Server failed to authenticate the request. Make sure the value of the Authorization "
        "header is formed correctly including the signature. Detail: Invalid token audience. (HTTP 403)"
    )
    assert reasons["unknown_client"].startswith(
        f"cannot sign in as {UNKNOWN_CLIENT}: AADSTS700016: "
        f"Application with identifier '{UNKNOWN_CLIENT}' was not found"
    )
    assert reasons["wrong_thumbprint"] == (
        f"credentials.thumbprint {'AB' * 20} does not match the certificate, whose thumbprint is {oauth.thumbprint}"
    )
    assert registered(project) == {}
    assert "nope" not in plan.all and SP_SECRET not in plan.all


def test_the_oauth_azurite_refuses_bearer_tokens_it_cannot_accept(oauth: OAuthStorage) -> None:
    """The gen2 probe's success above is meaningful: this Azurite really checks the token's claims."""
    from azure.core.credentials import AccessToken
    from azure.core.exceptions import HttpResponseError

    filesystem = unique("lake")
    oauth.azurite.create_filesystem(filesystem)

    class Opaque:
        def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            return AccessToken("fake-aad.not-a-jwt", 2**31)

    client = oauth.azurite.filesystem_client(filesystem, credential=Opaque())  # type: ignore[arg-type]
    with pytest.raises(HttpResponseError) as info:
        client.get_file_system_properties()
    assert info.value.status_code in (401, 403)
