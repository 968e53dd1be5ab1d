# ruff: noqa: RUF001 (the replies are written in their own scripts and punctuation)
"""The canned reply to a visitor who types their number or address and asks to have it
removed (intent ``erasure``: "98765 43210 is my number, delete it"), in each language of
``rag.chat.translations``: the detail was not saved as a contact, the chat cannot erase data,
the business behind it can and has the request (the conversation is handed to the team,
``shortcuts.handoff``). It asks for no contact details. The comment is the English."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.chat.reply_language import Language

if TYPE_CHECKING:
    from rag.chat.translations import Reply

ERASURE_REPLY = (
    "I haven't saved the contact details you just typed. I can't erase data from this chat, "
    "but the business running this chat can erase your details, this conversation included: "
    "I've passed your request on to them."
)
"""The English reply (the owner's words for where to reach them follow, when set)."""

ERASURE: dict[Reply, dict[Language, str]] = {
    # ERASURE_REPLY
    "erasure": {
        "de": "Ich habe die Kontaktdaten, die Sie gerade eingegeben haben, nicht gespeichert. "
        "In diesem Chat kann ich keine Daten löschen, aber das Unternehmen hinter diesem Chat "
        "kann Ihre Daten löschen, auch dieses Gespräch: Ich habe Ihre Anfrage weitergeleitet.",
        "fr": "Je n'ai pas enregistré les coordonnées que vous venez de saisir. Je ne peux pas "
        "effacer de données depuis ce chat, mais l'entreprise qui gère ce chat peut effacer vos "
        "données, cette conversation comprise : je lui ai transmis votre demande.",
        "es": "No he guardado los datos de contacto que acaba de escribir. No puedo borrar datos "
        "desde este chat, pero la empresa que gestiona este chat puede borrar sus datos, "
        "incluida esta conversación: le he pasado su solicitud.",
        "pt": "Não guardei os dados de contato que você acabou de digitar. Não consigo apagar "
        "dados neste chat, mas a empresa responsável por este chat pode apagar os seus dados, "
        "incluindo esta conversa: encaminhei o seu pedido a ela.",
        "it": "Non ho salvato i recapiti che ha appena scritto. Non posso cancellare dati da "
        "questa chat, ma l'azienda che gestisce questa chat può cancellare i suoi dati, "
        "compresa questa conversazione: le ho inoltrato la sua richiesta.",
        "hi": "आपने अभी जो संपर्क विवरण लिखा है, उसे मैंने सहेजा नहीं है। मैं इस चैट से डेटा नहीं "
        "मिटा सकता, लेकिन इस चैट को चलाने वाला व्यवसाय आपका विवरण, यह बातचीत भी, मिटा सकता है: "
        "मैंने आपका अनुरोध उन तक पहुँचा दिया है।",
        "hi-Latn": "Aapne abhi jo contact details likhe hain, unhe maine save nahi kiya hai. "
        "Main is chat se data nahi mita sakta, lekin is chat ko chalane wala business aapke "
        "details, yeh baatcheet bhi, mita sakta hai: maine aapka request unhe bhej diya hai.",
        "ru": "Я не сохранил контактные данные, которые вы только что написали. Я не могу "
        "удалять данные из этого чата, но компания, которой принадлежит этот чат, может удалить "
        "ваши данные, включая этот разговор: я передал ей ваш запрос.",
        "ar": "لم أحفظ بيانات الاتصال التي كتبتها للتو. لا يمكنني حذف البيانات من هذه المحادثة، "
        "لكن الجهة التي تدير هذه المحادثة يمكنها حذف بياناتك، بما فيها هذه المحادثة: لقد أحلت "
        "طلبك إليها.",
        "zh": "我没有保存您刚才输入的联系方式。我无法在此聊天中删除数据，但运营此聊天的商家可以"
        "删除您的信息（包括本次对话）：我已将您的请求转交给他们。",
        "ja": "先ほど入力された連絡先は保存していません。このチャットではデータを削除できません"
        "が、このチャットを運営する事業者があなたの情報（この会話を含む）を削除できます。"
        "ご依頼は事業者に伝えました。",
    },
}
