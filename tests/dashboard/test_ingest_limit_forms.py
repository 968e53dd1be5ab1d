"""The knowledge page's forms past the ingestion rate limit (RATE_LIMIT_INGEST) come back as
the knowledge page with the reason beside the form and when to try again: before, the upload,
the web address and the FAQ import forms each answered the bare "Too many requests" page (its
only way on "Back to the dashboard"), and the address typed was lost. Without script, as a
browser posts a form; with htmx the upload's reason stays in the flash box (the e2e tests)."""

from __future__ import annotations

import html
import re
import uuid

import httpx

from tests.conftest import RuntimeFactory, client_for
from tests.dashboard.conftest import WebOwner, csrf_of, web_signup
from tests.dashboard.test_faq_quota import csv_of, import_csv
from tests.dashboard.test_team_page import _joined, signed_in_as


async def _upload(web: WebOwner, name: str) -> httpx.Response:
    return await web.client.post(
        web.url("knowledge/upload"),
        data={"csrf_token": web.csrf},
        files=[("files", (name, f"Opening hours {name}.\n".encode(), "text/plain"))],
    )


def _section(text: str, heading_id: str) -> str:
    found = re.search(
        rf'<section[^>]*aria-labelledby="{heading_id}".*?</section>', text, flags=re.S
    )
    assert found is not None, text[:2000]
    return html.unescape(found.group(0))


async def test_the_forms_past_the_ingest_limit_come_back_with_the_reason(
    runtime_factory: RuntimeFactory,
) -> None:
    async with (
        runtime_factory(rate_limits="on", rate_limit_ingest="1/hour") as runtime,
        client_for(runtime) as client,
    ):
        web = await web_signup(client, "Limited")
        tag = uuid.uuid4().hex[:8]
        assert (await _upload(web, f"first-{tag}.txt")).status_code == 303

        refused = await _upload(web, f"second-{tag}.txt")
        assert refused.status_code == 429, refused.text[:500]
        assert "<h1>Knowledge" in refused.text  # the page with its forms, not the error page
        assert int(refused.headers["Retry-After"]) > 0
        upload = _section(refused.text, "upload-h")
        reason = re.search(r'id="files-err" role="alert">(.*?)</p>', upload, flags=re.S)
        assert reason is not None, upload
        assert "try again in" in reason.group(1)
        assert 'aria-invalid="true"' in upload

        address = f"https://example.com/help-{tag}"
        refused = await web.post(web.url("knowledge/web"), {"url": address, "kind": "sitemap"})
        assert refused.status_code == 429, refused.text[:500]
        web_form = _section(refused.text, "web-h")
        assert f'value="{address}"' in web_form
        assert re.search(r'value="sitemap" checked', web_form), web_form
        assert "try again in" in web_form

        refused = await import_csv(web, csv_of(range(1), tag))
        assert refused.status_code == 429, refused.text[:500]
        assert "<h1>Knowledge" in refused.text
        found = re.search(r'id="faq-csv-error" role="alert">(.*?)</div>', refused.text, re.S)
        assert found is not None, refused.text[-3000:]
        assert "try again in" in html.unescape(found.group(1))


async def test_a_members_refused_forms_leave_the_owners_ingestion_budget_whole(
    runtime_factory: RuntimeFactory,
) -> None:
    """The ingestion limit was counted before the permission check: a member's browser, refused
    403 on each form adding knowledge, spent the workspace's budget, and the owner's next upload
    was refused 429. Only callers allowed to add knowledge spend it now."""
    async with (
        runtime_factory(rate_limits="on", rate_limit_ingest="2/hour") as runtime,
        client_for(runtime) as client,
    ):
        web = await web_signup(client, "Guarded")
        person, _ = await _joined(client, web, "member")
        tag = uuid.uuid4().hex[:8]
        async with signed_in_as(runtime, person) as browser:
            csrf = {"csrf_token": csrf_of((await browser.get(web.url())).text)}
            file = ("files", (f"member-{tag}.txt", b"Added by a member.\n", "text/plain"))
            for _ in range(3):  # each form, more times than the budget holds
                refused = [
                    await browser.post(web.url("knowledge/upload"), data=csrf, files=[file]),
                    await browser.post(
                        web.url("knowledge/web"),
                        data={**csrf, "url": f"https://example.com/{tag}", "kind": "page"},
                    ),
                    await browser.post(
                        web.url("knowledge/faqs/import"),
                        data=csrf,
                        files={"file": ("faqs.csv", csv_of(range(1), tag), "text/csv")},
                    ),
                    await browser.post(
                        web.url(f"knowledge/documents/{uuid.uuid4()}/retry"), data=csrf
                    ),
                ]
                for answer in refused:
                    assert answer.status_code == 403, (answer.request.url, answer.status_code)

        for n in range(2):
            assert (await _upload(web, f"owner-{n}-{tag}.txt")).status_code == 303
        assert (await _upload(web, f"owner-2-{tag}.txt")).status_code == 429


async def test_a_file_over_the_size_limit_is_refused_in_megabytes(
    runtime_factory: RuntimeFactory,
) -> None:
    """An owner uploading a 3 MB brochure read "Files may be at most 2097152 bytes": the limit
    is said in megabytes."""
    async with (
        runtime_factory(max_upload_bytes=2 * 1024 * 1024) as runtime,
        client_for(runtime) as client,
    ):
        web = await web_signup(client, "Brochures")
        refused = await web.client.post(
            web.url("knowledge/upload"),
            data={"csrf_token": web.csrf},
            files=[("files", ("brochure.txt", b"word " * 600_000, "text/plain"))],
        )
        assert refused.status_code == 413, refused.text[:500]
        shown = html.unescape(refused.text)
        assert "brochure.txt: Files may be at most 2 MB" in shown
        assert "2097152" not in shown
