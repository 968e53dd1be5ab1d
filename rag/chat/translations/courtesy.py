# ruff: noqa: RUF001 (the replies are written in their own scripts and punctuation)
"""Canned replies to courtesy and to messages that ask nothing, in each language of
``rag.chat.translations``: a greeting, thanks, a goodbye, a message without words
(``unclear``), and "are you a bot?" (``bot_identity``). Each entry's comment is the English."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.chat.reply_language import Language

if TYPE_CHECKING:
    from rag.chat.translations import Reply

COURTESY: dict[Reply, dict[Language, str]] = {
    # "I'm an automated assistant for {name}. If you'd like a person from the team, just say so."
    "bot_identity": {
        "de": "Ich bin {name}, ein automatischer Assistent. Wenn Sie lieber mit einer Person aus "
        "dem Team sprechen möchten, sagen Sie es einfach.",
        "fr": "Je suis {name}, un assistant automatique. Si vous souhaitez parler à une personne "
        "de l'équipe, dites-le simplement.",
        "es": "Soy {name}, un asistente automático. Si prefiere hablar con una persona del "
        "equipo, solo dígalo.",
        "pt": "Sou {name}, um assistente automático. Se preferir falar com uma pessoa da "
        "equipe, é só dizer.",
        "it": "Sono {name}, un assistente automatico. Se preferisce parlare con una persona del "
        "team, basta dirlo.",
        "hi": "मैं {name} हूँ, एक स्वचालित सहायक। अगर आप टीम के किसी व्यक्ति से बात करना चाहते "
        "हैं, तो बस बता दीजिए।",
        "hi-Latn": "Main {name} hoon, ek automated assistant. Agar aap team ke kisi vyakti se "
        "baat karna chahte hain, to bas bata dijiye.",
        "ru": "Я {name}, автоматический ассистент. Если хотите поговорить с человеком из команды, "
        "просто скажите.",
        "ar": "أنا {name}، مساعد آلي. إذا كنت تفضّل التحدث مع شخص من الفريق، فقط أخبرني.",
        "zh": "我是 {name}，一个自动助手。如果您想与团队中的真人交流，请直接告诉我。",
        "ja": "私は自動アシスタントの {name} です。チームの担当者と話したい場合は、"
        "そうお伝えください。",
    },
    # "I'm not sure what you mean. Could you tell me in a few words what you need help with?"
    "unclear": {
        "de": "Ich bin nicht sicher, was Sie meinen. Können Sie mir in ein paar Worten sagen, "
        "wobei Sie Hilfe brauchen?",
        "fr": "Je ne suis pas sûr de comprendre. Pouvez-vous me dire en quelques mots ce dont "
        "vous avez besoin ?",
        "es": "No estoy seguro de entenderle. ¿Puede decirme en pocas palabras con qué necesita "
        "ayuda?",
        "pt": "Não tenho certeza do que você quer dizer. Pode me dizer em poucas palavras com o "
        "que precisa de ajuda?",
        "it": "Non sono sicuro di aver capito. Può dirmi in poche parole di cosa ha bisogno?",
        "hi": "मुझे ठीक से समझ नहीं आया। क्या आप कुछ शब्दों में बता सकते हैं कि आपको किस बारे में मदद चाहिए?",
        "hi-Latn": "Mujhe theek se samajh nahi aaya. Kya aap kuch shabdon mein bata sakte hain ki "
        "aapko kis cheez mein madad chahiye?",
        "ru": "Я не совсем понял. Можете в двух словах написать, с чем вам нужна помощь?",
        "ar": "لست متأكدًا مما تقصده. هل يمكنك أن تخبرني ببضع كلمات بما تحتاج المساعدة فيه؟",
        "zh": "我不太明白您的意思。能用几句话告诉我您需要什么帮助吗？",
        "ja": "おっしゃる意味がよくわかりませんでした。"
        "どのようなことでお困りか、短く教えていただけますか？",
    },
    # "Hi! I'm {name}. How can I help you today?"
    "greeting": {
        "de": "Hallo! Ich bin {name}. Wie kann ich Ihnen heute helfen?",
        "fr": "Bonjour ! Je suis {name}. Comment puis-je vous aider aujourd'hui ?",
        "es": "¡Hola! Soy {name}. ¿En qué puedo ayudarle hoy?",
        "pt": "Olá! Sou {name}. Como posso ajudar você hoje?",
        "it": "Salve! Sono {name}. Come posso aiutarla oggi?",
        "hi": "नमस्ते! मैं {name} हूँ। आज मैं आपकी क्या मदद कर सकता हूँ?",
        "hi-Latn": "Namaste! Main {name} hoon. Aaj main aapki kya madad kar sakta hoon?",
        "ru": "Здравствуйте! Я {name}. Чем могу помочь?",
        "ar": "مرحبًا! أنا {name}. كيف يمكنني مساعدتك اليوم؟",
        "zh": "您好！我是 {name}。今天有什么可以帮您？",
        "ja": "こんにちは！{name} です。本日はどのようなご用件でしょうか？",
    },
    # "You're welcome! Is there anything else I can help you with?"
    "thanks": {
        "de": "Gern geschehen! Kann ich Ihnen sonst noch helfen?",
        "fr": "Avec plaisir ! Puis-je vous aider pour autre chose ?",
        "es": "¡De nada! ¿Hay algo más en lo que pueda ayudarle?",
        "pt": "De nada! Posso ajudar em mais alguma coisa?",
        "it": "Prego! Posso aiutarla in qualcos'altro?",
        "hi": "आपका स्वागत है! क्या मैं किसी और चीज़ में आपकी मदद कर सकता हूँ?",
        "hi-Latn": "Aapka swagat hai! Kya main kisi aur cheez mein aapki madad kar sakta hoon?",
        "ru": "Пожалуйста! Могу ли я ещё чем-нибудь помочь?",
        "ar": "على الرحب والسعة! هل هناك أي شيء آخر يمكنني مساعدتك فيه؟",
        "zh": "不客气！还有什么可以帮您的吗？",
        "ja": "どういたしまして！ほかに何かお手伝いできることはありますか？",
    },
    # "Thanks for chatting with {name}. Have a great day!"
    "goodbye": {
        "de": "Danke für das Gespräch mit {name}. Einen schönen Tag noch!",
        "fr": "Merci d'avoir discuté avec {name}. Bonne journée !",
        "es": "Gracias por conversar con {name}. ¡Que tenga un buen día!",
        "pt": "Obrigado por conversar com {name}. Tenha um ótimo dia!",
        "it": "Grazie per aver parlato con {name}. Buona giornata!",
        "hi": "{name} से बात करने के लिए धन्यवाद। आपका दिन शुभ हो!",
        "hi-Latn": "{name} se baat karne ke liye dhanyavaad. Aapka din shubh ho!",
        "ru": "Спасибо за разговор с {name}. Хорошего дня!",
        "ar": "شكرًا لتحدثك مع {name}. أتمنى لك يومًا سعيدًا!",
        "zh": "感谢您与 {name} 聊天，祝您有美好的一天！",
        "ja": "{name} とのチャットをご利用いただきありがとうございました。"
        "良い一日をお過ごしください！",
    },
}
