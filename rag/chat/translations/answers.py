# ruff: noqa: RUF001 (the replies are written in their own scripts and punctuation)
"""Canned replies when the bot has no answer, in each language of ``rag.chat.translations``:
"I don't know" and what follows it, and a model that failed (``unavailable``). Each entry's
comment is the English."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.chat.reply_language import Language

if TYPE_CHECKING:
    from rag.chat.translations import Reply

ANSWERS: dict[Reply, dict[Language, str]] = {
    # "Sorry, I don't know the answer to that based on the information available."
    # (``prompts.dont_know_answer``; then one of the two below, or the no-contact hint's absence)
    "dont_know": {
        "de": "Entschuldigung, das kann ich anhand der verfügbaren Informationen leider nicht "
        "beantworten.",
        "fr": "Désolé, je ne connais pas la réponse d'après les informations dont je dispose.",
        "es": "Lo siento, no sé la respuesta con la información disponible.",
        "pt": "Desculpe, não sei a resposta com base nas informações disponíveis.",
        "it": "Mi dispiace, non conosco la risposta in base alle informazioni disponibili.",
        "hi": "क्षमा करें, उपलब्ध जानकारी के आधार पर मुझे इसका उत्तर नहीं पता।",
        "hi-Latn": "Maaf kijiye, uplabdh jaankari ke aadhaar par mujhe iska jawab nahi pata.",
        "ru": "Извините, по имеющейся информации я не знаю ответа на этот вопрос.",
        "ar": "عذرًا، لا أعرف الإجابة عن ذلك بناءً على المعلومات المتاحة.",
        "zh": "抱歉，根据现有信息，我无法回答这个问题。",
        "ja": "申し訳ありませんが、手元の情報ではその質問にお答えできません。",
    },
    # "Would you like to leave your email address so the team can follow up with you?"
    "dont_know_offer": {
        "de": "Möchten Sie Ihre E-Mail-Adresse hinterlassen, damit sich das Team bei Ihnen "
        "melden kann?",
        "fr": "Souhaitez-vous laisser votre adresse e-mail pour que l'équipe vous recontacte ?",
        "es": "¿Quiere dejar su correo electrónico para que el equipo le contacte?",
        "pt": "Quer deixar seu e-mail para que a equipe entre em contato com você?",
        "it": "Vuole lasciare il suo indirizzo email così che il team possa ricontattarla?",
        "hi": "क्या आप अपना ईमेल पता छोड़ना चाहेंगे ताकि टीम आपसे संपर्क कर सके?",
        "hi-Latn": "Kya aap apna email address chhodna chahenge taaki team aapse sampark kar sake?",
        "ru": "Хотите оставить свой адрес электронной почты, чтобы команда связалась с вами?",
        "ar": "هل تود ترك بريدك الإلكتروني ليتواصل معك الفريق؟",
        "zh": "您愿意留下电子邮件地址，以便团队跟进吗？",
        "ja": "チームからご連絡できるよう、メールアドレスを残していただけますか？",
    },
    # "The team can see your question and follow up using the contact details you left."
    "dont_know_address_left": {
        "de": "Das Team sieht Ihre Frage und meldet sich über die Kontaktdaten, die Sie "
        "hinterlassen haben.",
        "fr": "L'équipe voit votre question et vous recontactera grâce aux coordonnées que vous "
        "avez laissées.",
        "es": "El equipo puede ver su pregunta y le responderá a través de los datos de contacto "
        "que dejó.",
        "pt": "A equipe pode ver sua pergunta e vai responder pelos dados de contato que você "
        "deixou.",
        "it": "Il team può vedere la sua domanda e la ricontatterà ai recapiti che ha lasciato.",
        "hi": "टीम आपका प्रश्न देख सकती है और आपके छोड़े गए संपर्क विवरण पर आपसे संपर्क करेगी।",
        "hi-Latn": "Team aapka sawaal dekh sakti hai aur aapke chhode gaye contact details par "
        "aapse sampark karegi.",
        "ru": "Команда видит ваш вопрос и свяжется с вами по контактам, которые вы оставили.",
        "ar": "يمكن للفريق رؤية سؤالك وسيتواصل معك عبر بيانات الاتصال التي تركتها.",
        "zh": "团队可以看到您的问题，并会通过您留下的联系方式跟进。",
        "ja": "チームがご質問を確認し、残していただいた連絡先にご連絡します。",
    },
    # "Sorry, I'm having trouble answering right now. Please try again in a moment."
    # (``prompts.fallback_answer``: the model failed)
    "unavailable": {
        "de": "Entschuldigung, ich kann gerade nicht antworten. Bitte versuchen Sie es gleich "
        "noch einmal.",
        "fr": "Désolé, je n'arrive pas à répondre pour le moment. Veuillez réessayer dans un "
        "instant.",
        "es": "Lo siento, ahora mismo tengo problemas para responder. Inténtelo de nuevo en un "
        "momento.",
        "pt": "Desculpe, estou com dificuldades para responder agora. Tente novamente em "
        "instantes.",
        "it": "Mi dispiace, al momento ho difficoltà a rispondere. Riprovi tra poco.",
        "hi": "क्षमा करें, मुझे अभी उत्तर देने में समस्या हो रही है। कृपया थोड़ी देर में फिर से प्रयास करें।",
        "hi-Latn": "Maaf kijiye, mujhe abhi jawab dene mein dikkat ho rahi hai. Kripya thodi der "
        "mein phir se koshish karein.",
        "ru": "Извините, сейчас я не могу ответить. Пожалуйста, попробуйте ещё раз через минуту.",
        "ar": "عذرًا، أواجه مشكلة في الرد الآن. يرجى المحاولة مرة أخرى بعد قليل.",
        "zh": "抱歉，我现在无法回答。请稍后再试。",
        "ja": "申し訳ありません。ただいま回答できません。しばらくしてからもう一度お試しください。",
    },
    # "You can also leave your email address and the team will get back to you."
    "unavailable_offer": {
        "de": "Sie können auch Ihre E-Mail-Adresse hinterlassen, dann meldet sich das Team bei "
        "Ihnen.",
        "fr": "Vous pouvez aussi laisser votre adresse e-mail et l'équipe vous recontactera.",
        "es": "También puede dejar su correo electrónico y el equipo le responderá.",
        "pt": "Você também pode deixar seu e-mail e a equipe entrará em contato.",
        "it": "Può anche lasciare il suo indirizzo email e il team la ricontatterà.",
        "hi": "आप अपना ईमेल पता भी छोड़ सकते हैं, टीम आपसे संपर्क करेगी।",
        "hi-Latn": "Aap apna email address bhi chhod sakte hain, team aapse sampark karegi.",
        "ru": "Вы также можете оставить свой адрес электронной почты, и команда свяжется с вами.",
        "ar": "يمكنك أيضًا ترك بريدك الإلكتروني وسيتواصل معك الفريق.",
        "zh": "您也可以留下电子邮件地址，团队会回复您。",
        "ja": "メールアドレスを残していただければ、チームからご連絡します。",
    },
}
