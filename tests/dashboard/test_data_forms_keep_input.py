"""Settings' data forms refused come back as the Settings page with what the owner gave and why
beside the form: the erasure form kept neither the session id typed nor the key chosen (a NUL
pasted with a session id ended on the generic error page, a blank one redirected to the top of
an empty form), and a retention the plan refuses was said in a notice at the top of the page,
away from the form."""

from __future__ import annotations

import html
import re
import uuid

from tests.dashboard.conftest import WebOwner


def _erase_form(text: str) -> str:
    found = re.search(r'<section[^>]*data-testid="erase-section".*?</section>', text, flags=re.S)
    assert found is not None, text[:2000]
    return found.group(0)


def _checked_key(form: str) -> str:
    found = re.search(r'<input type="radio" name="key" value="([a-z_]+)" checked>', form)
    assert found is not None, form
    return found.group(1)


def _value_box(form: str) -> str:
    found = re.search(r'<input id="erase-value"[^>]*>', form)
    assert found is not None, form
    return found.group(0)


async def test_a_session_id_with_a_nul_is_kept_beside_the_reason(web: WebOwner) -> None:
    session_id = f"visitor-{uuid.uuid4().hex[:12]}"
    pasted = session_id[:6] + "\x00" + session_id[6:]
    refused = await web.post(web.url("settings/erasures"), {"key": "session_id", "value": pasted})
    assert refused.status_code == 422, refused.text[:500]
    assert "<h1>Settings</h1>" in refused.text  # the page itself, not the error page
    form = _erase_form(refused.text)
    assert _checked_key(form) == "session_id"
    box = _value_box(form)
    assert f'value="{session_id}"' in box
    assert 'aria-invalid="true"' in box
    reason = re.search(r'id="erase-value-err" role="alert">(.*?)</p>', form, flags=re.S)
    assert reason is not None, form
    assert "NUL character" in html.unescape(reason.group(1))


async def test_a_blank_erasure_keeps_the_key_chosen_and_says_why_beside_it(web: WebOwner) -> None:
    refused = await web.post(web.url("settings/erasures"), {"key": "session_id", "value": "  "})
    assert refused.status_code == 422, refused.text[:500]
    form = _erase_form(refused.text)
    assert _checked_key(form) == "session_id"
    assert 'aria-invalid="true"' in _value_box(form)
    assert "their phone number or their widget session id" in html.unescape(form)


async def test_a_refused_erasure_sent_by_htmx_replaces_the_page_main_part(web: WebOwner) -> None:
    """htmx swaps no 4xx answer in: the refusal is a 200 that replaces the page's main part."""
    refused = await web.post(
        web.url("settings/erasures"),
        {"key": "session_id", "value": ""},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 200, refused.text[:500]
    assert refused.headers["HX-Retarget"] == "#main"
    assert refused.headers["HX-Reswap"] == "outerHTML"
    assert _checked_key(_erase_form(refused.text)) == "session_id"


async def test_a_retention_the_plan_refuses_is_said_beside_its_form(web: WebOwner) -> None:
    refused = await web.post(web.url("settings/retention"), {"days": "9999"})
    assert refused.status_code == 422, refused.text[:500]
    section = re.search(
        r'<section[^>]*data-testid="retention-section".*?</section>', refused.text, flags=re.S
    )
    assert section is not None, refused.text[:2000]
    select = re.search(r'<select id="retention-days"[^>]*>', section.group(0))
    assert select is not None
    assert 'aria-invalid="true"' in select.group(0)
    reason = re.search(r'id="retention-err" role="alert">(.*?)</p>', section.group(0), flags=re.S)
    assert reason is not None, section.group(0)
    said = html.unescape(reason.group(1))
    assert said.startswith("Nothing changed: on this plan, keep conversations for 7 days")
    # The choice in force stays selected: sending the form again changes nothing by mistake.
    assert '<option value="plan" selected>' in section.group(0)
