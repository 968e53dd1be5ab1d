"""The widget's contact form thanks the visitor in their language. A German visitor who left
their address through the form read "Thanks! We'll be in touch at ...", in English: the widget
had only its built-in default (or the owner's ``lead_thanks``), and ``POST /widget/leads``
answered ``{"status": "received"}``. It now also answers ``thanks``, the text to show: the
owner's ``lead_thanks`` when set, else the default in the conversation's language."""

from __future__ import annotations

import httpx

from tests.conftest import Owner
from tests.rag.test_chat import chat, new_session
from tests.widget.test_widget_leads import submit, unique_email


async def _form_after(
    client: httpx.AsyncClient, owner: Owner, said: str, *, own: bool = True
) -> tuple[str, dict[str, str]]:
    """A visitor says ``said`` in the chat, then sends the form with their conversation (with
    another visitor's session unless ``own``): the address sent, and the answer (202)."""
    session = new_session()
    asked = await chat(client, owner, said, session_id=session)
    email = unique_email("visitor")
    sent = await submit(
        client,
        owner,
        email=email,
        conversation_id=asked.json()["conversation_id"],
        session_id=session if own else new_session(),
    )
    assert sent.status_code == 202, sent.text
    return email, sent.json()


async def test_the_form_is_thanked_in_the_conversations_language(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    email, sent = await _form_after(client, owner, "Ich möchte mit einem Menschen sprechen")
    assert sent == {"status": "received", "thanks": f"Danke! Wir melden uns unter {email}."}

    # Without a conversation, the message the form carries tells the language.
    email = unique_email("cliente")
    spanish = "Hola, necesito ayuda con mi pedido por favor"
    answered = await submit(client, owner, email=email, message=spanish)
    assert answered.json()["thanks"] == f"¡Gracias! Nos pondremos en contacto con usted en {email}."

    # Nothing that tells a language (or English): the English default.
    email = unique_email("jane")
    answered = await submit(client, owner, email=email)
    assert answered.json() == {
        "status": "received",
        "thanks": f"Thanks! We'll be in touch at {email}.",
    }
    email = unique_email("joe")
    answered = await submit(client, owner, email=email, message="Can someone call me back please?")
    assert answered.json()["thanks"] == f"Thanks! We'll be in touch at {email}."


async def test_another_visitors_conversation_tells_nothing(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    email, sent = await _form_after(client, owner, "Je veux parler à un humain", own=False)
    assert sent["thanks"] == f"Thanks! We'll be in touch at {email}."


async def test_the_owners_thanks_wins(client: httpx.AsyncClient, owner: Owner) -> None:
    texts = {"lead_thanks": "Merci, on vous écrit à {email} !"}
    saved = await client.patch(owner.url("/widget"), json={"texts": texts}, headers=owner.headers)
    assert saved.status_code == 200, saved.text
    email, sent = await _form_after(client, owner, "Ich möchte mit einem Menschen sprechen")
    assert sent["thanks"] == f"Merci, on vous écrit à {email} !"
