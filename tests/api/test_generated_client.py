"""A Python client generated from the live OpenAPI schema imports and talks to the API.

``openapi-python-client`` (requirements-dev) generates a client from ``/api/schema/`` as served by
the live test server; every generated module must import, and the client lists and creates sites
through the same server. The schema advertises one request content type per write operation
(``core.api.schema.one_request_content_type``): with DRF's three (JSON, form, multipart) the
generator writes operations that do not import.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest

from cohort.models import Site
from tests.api.conftest import API

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

PACKAGE = "motorband_client"
PASSWORD = "pw-Test-123!"  # the users fixture's
GENERATE_TIMEOUT_S = 300


def _json(url: str, *, token: str = "", body: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET (or POST ``body`` as JSON to) the live server; the answer's JSON."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as answer:
        found: dict[str, Any] = json.load(answer)
    return found


@pytest.fixture
def admin_token(live_server: Any, users: dict[str, Any]) -> str:
    """A token of the admin, from the API's own login (whatever stores the tokens)."""
    answer = _json(
        f"{live_server.url}{API}auth/token/",
        body={"username": users["admin"].username, "password": PASSWORD},
    )
    return str(answer["token"])


def _generate(schema_path: Path, target: Path) -> None:
    # The generator formats its output with ruff, which lives next to this interpreter.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(schema_path),
            "--meta",
            "none",
            "--output-path",
            str(target),
        ],
        capture_output=True,
        text=True,
        cwd=target.parent,
        env={**os.environ, "PATH": path},
        timeout=GENERATE_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (target / "__init__.py").is_file(), result.stdout + result.stderr


#: Generated packages by schema text: the tests of this module generate the client once.
_GENERATED: dict[str, Path] = {}


@pytest.fixture
def generated(
    live_server: Any,
    admin_token: str,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Any]]:
    """The live schema, with its generated client package importable for the test (and removed
    from ``sys.modules`` after it)."""
    schema = _json(f"{live_server.url}/api/schema/?format=json", token=admin_token)
    text = json.dumps(schema, sort_keys=True)
    if text not in _GENERATED:
        folder = tmp_path_factory.mktemp("generated_client")
        (folder / "schema.json").write_text(text)
        _generate(folder / "schema.json", folder / PACKAGE)
        _GENERATED[text] = folder
    monkeypatch.syspath_prepend(str(_GENERATED[text]))
    yield schema
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_every_write_operation_advertises_one_request_content_type(generated: Any) -> None:
    bodies = {
        f"{method.upper()} {path}": tuple(operation["requestBody"]["content"])
        for path, operations in generated["paths"].items()
        for method, operation in operations.items()
        if isinstance(operation, dict) and "requestBody" in operation
    }
    assert bodies, "the schema has no request bodies"
    assert {types for types in bodies.values()} == {
        ("application/json",),
        ("multipart/form-data",),
    }
    uploads = [operation for operation, types in bodies.items() if "multipart/form-data" in types]
    assert uploads == ["POST /api/v1/scans/"]


def test_every_generated_module_imports(generated: Any) -> None:
    package = importlib.import_module(PACKAGE)
    failures = {}
    names = [m.name for m in pkgutil.walk_packages(package.__path__, PACKAGE + ".")]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # report every module that fails, not only the first
            failures[name] = f"{type(exc).__name__}: {exc}"
    assert not failures, failures
    assert f"{PACKAGE}.api.sites.sites_list" in names
    assert len([n for n in names if ".api." in n]) > 50  # one module per operation


def test_the_generated_client_lists_and_creates_through_the_live_server(
    generated: Any, live_server: Any, admin_token: str, sites: dict[str, Site]
) -> None:
    client_module = importlib.import_module(PACKAGE)
    sites_list = importlib.import_module(f"{PACKAGE}.api.sites.sites_list")
    sites_create = importlib.import_module(f"{PACKAGE}.api.sites.sites_create")
    site_request = importlib.import_module(f"{PACKAGE}.models.site_request")
    client = client_module.AuthenticatedClient(
        base_url=live_server.url, token=admin_token, prefix="Token"
    )

    listed = sites_list.sync_detailed(client=client)
    assert listed.status_code == HTTPStatus.OK
    assert listed.parsed.count == len(sites)
    assert sorted(site.code for site in listed.parsed.results) == sorted(sites)

    # A write goes out as JSON, the one request type the schema advertises.
    created = sites_create.sync_detailed(
        client=client, body=site_request.SiteRequest(code="VAN", name="Vancouver")
    )
    assert created.status_code == HTTPStatus.CREATED, created.content
    assert created.parsed.code == "VAN"
    assert Site.objects.get(code="VAN").name == "Vancouver"


def test_the_generated_client_reads_with_an_etag_and_uploads_a_scan(
    generated: Any, live_server: Any, admin_token: str, sites: dict[str, Site], tmp_path: Path
) -> None:
    import io

    import nibabel as nib

    from imaging import band
    from tests.factories import make_subject, make_visit

    client_module = importlib.import_module(PACKAGE)
    sites_retrieve = importlib.import_module(f"{PACKAGE}.api.sites.sites_retrieve")
    scans_create = importlib.import_module(f"{PACKAGE}.api.scans.scans_create")
    scan_request = importlib.import_module(f"{PACKAGE}.models.scan_request")
    scan_kind = importlib.import_module(f"{PACKAGE}.models.scan_kind_enum")
    types = importlib.import_module(f"{PACKAGE}.types")
    client = client_module.AuthenticatedClient(
        base_url=live_server.url, token=admin_token, prefix="Token"
    )

    read = sites_retrieve.sync_detailed("EDM", client=client)
    assert read.status_code == HTTPStatus.OK
    assert read.parsed.code == "EDM"
    assert read.headers["etag"] == f'"{read.parsed.version}"'

    # The upload goes out as multipart, the one request type the schema advertises for it.
    visit = make_visit(make_subject(study_id="EDM-0901", site=sites["EDM"]), "V1")
    phantom = band.make_phantom((32, 32, 32), (2.0, 2.0, 2.0), band_contrast=(0.2, 0.1), seed=3)
    path = tmp_path / "swi.nii.gz"
    nib.save(phantom.swi, path)
    uploaded = scans_create.sync_detailed(
        client=client,
        body=scan_request.ScanRequest(
            visit=visit.pk,
            kind=scan_kind.ScanKindEnum.SWI,
            file=types.File(
                payload=io.BytesIO(path.read_bytes()),
                file_name="swi.nii.gz",
                mime_type="application/gzip",
            ),
            field_strength=3.0,
        ),
    )
    assert uploaded.status_code == HTTPStatus.CREATED, uploaded.content
    assert uploaded.parsed.kind == scan_kind.ScanKindEnum.SWI
    assert visit.scans.filter(kind="swi").count() == 1
