"""The knowledge page's upload form refused for what the file holds comes back as the
knowledge page with the reason beside the form: before, a file of a type that is not read (415)
answered the bare "Something is not right" page. (A sitemap is no longer read in the request:
one that cannot be read says why in the Sitemaps list, tests/dashboard/test_sitemap_notice.py.)"""

from __future__ import annotations

import html
import re

from tests.conftest import RuntimeFactory, client_for
from tests.dashboard.conftest import web_signup


def _section(text: str, heading_id: str) -> str:
    found = re.search(
        rf'<section[^>]*aria-labelledby="{heading_id}".*?</section>', text, flags=re.S
    )
    assert found is not None, text[:2000]
    return html.unescape(found.group(0))


async def test_a_file_of_a_type_not_read_is_refused_beside_the_upload_form(
    runtime_factory: RuntimeFactory,
) -> None:
    async with runtime_factory() as runtime, client_for(runtime) as client:
        web = await web_signup(client, "Odd file")
        refused = await web.client.post(
            web.url("knowledge/upload"),
            data={"csrf_token": web.csrf},
            files=[("files", ("setup.exe", b"MZ\x90\x00binary", "application/octet-stream"))],
        )
        assert refused.status_code == 415, refused.text[:500]
        assert "<h1>Knowledge" in refused.text, refused.text[:1000]
        upload = _section(refused.text, "upload-h")
        assert re.search(r'id="files-err" role="alert">setup\.exe: ', upload), upload
