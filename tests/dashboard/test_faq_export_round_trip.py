"""A workspace export's ``faqs.csv`` imported into another workspace (the dashboard's FAQ
import) gives back the FAQs as they were: each other phrasing its own (the export writes them
as a JSON list, which the import read as one phrasing, ``["a", "b"]``, and an FAQ without
any as the phrasing ``[]``) and an FAQ switched off still off (the import read no ``enabled``
column: the bot answered with it again)."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from typing import Any

import httpx

from rag.chat import faq_import
from tests.conftest import client_for, runtime_of
from tests.dashboard.conftest import WebOwner, web_signup
from tests.dashboard.test_faq_quota import bearer, import_csv


async def _faqs(web: WebOwner, headers: dict[str, str]) -> list[dict[str, Any]]:
    found = await web.client.get(f"/api/v1/workspaces/{web.workspace_id}/faqs", headers=headers)
    assert found.status_code == 200, found.text
    kept = ("question", "answer", "alt_questions", "enabled")
    return sorted(({k: f[k] for k in kept} for f in found.json()["items"]), key=str)


async def _exported_faqs_csv(web: WebOwner, headers: dict[str, str]) -> bytes:
    base = f"/api/v1/workspaces/{web.workspace_id}/exports"
    started = await web.client.post(base, headers=headers)
    assert started.status_code == 202, started.text
    await runtime_of(web.client).jobs.drain()
    status = await web.client.get(f"{base}/{started.json()['id']}", headers=headers)
    assert status.json()["status"] == "ready", status.text
    download = await web.client.get(status.json()["download_url"], headers=headers)
    assert download.status_code == 200, download.text
    return zipfile.ZipFile(io.BytesIO(download.content)).read("faqs.csv")


async def test_an_exported_faqs_csv_imports_back_as_it_was(web: WebOwner) -> None:
    headers = await bearer(web)
    tag = uuid.uuid4().hex[:6]
    made = [
        {"question": f"Do you deliver on Sundays {tag}?", "answer": "Yes, until 2 pm.",
         "alt_questions": [f"sunday delivery {tag}", f"weekend delivery {tag}"]},
        {"question": f"Is there a shop in Pune {tag}?", "answer": "Not yet.", "alt_questions": []},
    ]  # fmt: skip
    ids = []
    for faq in made:
        created = await web.client.post(
            f"/api/v1/workspaces/{web.workspace_id}/faqs", json=faq, headers=headers
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    off = await web.client.patch(
        f"/api/v1/workspaces/{web.workspace_id}/faqs/{ids[1]}",
        json={"enabled": False},
        headers=headers,
    )
    assert off.status_code == 200, off.text
    exported = await _exported_faqs_csv(web, headers)
    header = next(csv.reader(io.StringIO(exported.decode("utf-8"))))
    assert {"alt_questions", "enabled"} <= set(header), header

    async with client_for(runtime_of(web.client)) as other_client:
        other = await web_signup(other_client, "Restored")
        imported = await import_csv(other, exported)
        assert imported.status_code == 303, imported.text
        assert await _faqs(other, await bearer(other)) == await _faqs(web, headers)


def test_the_enabled_column_and_a_json_list_of_phrasings_are_read() -> None:
    rows = faq_import.parse(
        b"question,answer,alt_questions,enabled\n"
        b'Open on Sunday?,Yes.,"[""sunday hours"", ""weekend hours""]",False\n'
        b"Free parking?,Yes.,parking | car park,\n"
        b'Gift wrap?,No.,"[not json",TRUE\n'
    )
    assert [(r.alt_questions, r.enabled) for r in rows] == [
        (["sunday hours", "weekend hours"], False),
        (["parking", "car park"], True),
        (["[not json"], True),
    ]
    assert "enabled" not in faq_import.parse(b"question,answer\nQ?,A.\n")[0].model_fields_set


async def test_an_enabled_cell_that_is_neither_is_refused_naming_its_row(web: WebOwner) -> None:
    refused = await import_csv(web, b"question,answer,enabled\nOpen late?,Yes.,maybe\n")
    assert refused.status_code == 422, refused.text
    assert "Row 2, enabled: enabled must be true or false" in refused.text
    assert await _faqs(web, await bearer(web)) == []


async def test_a_file_with_the_column_switches_an_faq_it_updates(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    headers = await bearer(web)
    assert (await import_csv(web, b"question,answer\nOpen late?,Yes.\n")).status_code == 303
    assert [f["enabled"] for f in await _faqs(web, headers)] == [True]
    again = await import_csv(web, b"question,answer\nOpen late?,Yes.\n")  # no column: as it was
    assert again.status_code == 303
    off = await import_csv(web, b"question,answer,enabled\nOpen late?,Yes.,false\n")
    assert off.status_code == 303, off.text
    assert "1+updated" in off.headers["location"] or "1 updated" in off.headers["location"]
    assert [f["enabled"] for f in await _faqs(web, headers)] == [False]
