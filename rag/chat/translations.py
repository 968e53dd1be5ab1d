# ruff: noqa: RUF001 (the replies are written in their own scripts and punctuation)
"""The bot's canned replies in the languages it recognises requests in besides English (German,
French, Spanish, Portuguese, Italian, Hindi in Devanagari and in Latin letters, Russian, Arabic,
Chinese, Japanese): what a visitor gets when the owner wrote no text of their own (widget
settings' ``texts`` and ``greeting``, which always win) and the message was written in one of
them (``rag.chat.reply_language``). English is ``rag.chat.intents.persona_reply``; a reply with
no translation here stays English."""

from __future__ import annotations

from typing import Literal

from rag.chat.intents import persona_reply
from rag.chat.prompts import dont_know_answer, fallback_answer
from rag.chat.reply_language import Language

Reply = Literal[
    "bot_identity", "human", "human_address_left", "human_no_contact", "no_contact_hint",
    "contact_declined", "unclear", "greeting", "thanks", "goodbye", "contact", "dont_know",
    "dont_know_offer", "dont_know_address_left", "unavailable", "unavailable_offer",
    "lead_thanks", "lead", "lead_leave", "lead_address_left", "lead_no_contact", "name_given",
    "contact_phone",
]  # fmt: skip

_T: dict[Reply, dict[Language, str]] = {
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
    # "I'm an automated assistant, but I can get a person from the team to follow up. Please
    # leave your email address, and someone will get back to you." (``handoff``'s default)
    "human": {
        "de": "Ich bin ein automatischer Assistent, aber ich kann eine Person aus dem Team "
        "bitten, sich bei Ihnen zu melden. Bitte hinterlassen Sie Ihre E-Mail-Adresse, dann "
        "meldet sich jemand bei Ihnen.",
        "fr": "Je suis un assistant automatique, mais je peux demander à une personne de "
        "l'équipe de vous recontacter. Laissez votre adresse e-mail et quelqu'un vous répondra.",
        "es": "Soy un asistente automático, pero puedo pedir que una persona del equipo le "
        "contacte. Deje su correo electrónico y alguien le responderá.",
        "pt": "Sou um assistente automático, mas posso pedir que uma pessoa da equipe entre em "
        "contato. Deixe seu e-mail e alguém responderá a você.",
        "it": "Sono un assistente automatico, ma posso chiedere a una persona del team di "
        "ricontattarla. Lasci il suo indirizzo email e qualcuno le risponderà.",
        "hi": "मैं एक स्वचालित सहायक हूँ, लेकिन मैं टीम के किसी व्यक्ति से आपसे संपर्क करने को कह "
        "सकता हूँ। कृपया अपना ईमेल पता छोड़ दें, कोई आपसे संपर्क करेगा।",
        "hi-Latn": "Main ek automated assistant hoon, lekin main team ke kisi vyakti se aapse "
        "sampark karne ko keh sakta hoon. Kripya apna email address chhod dijiye, koi aapse "
        "sampark karega.",
        "ru": "Я автоматический ассистент, но могу попросить сотрудника команды связаться с "
        "вами. Оставьте, пожалуйста, свой адрес электронной почты, и вам ответят.",
        "ar": "أنا مساعد آلي، لكن يمكنني أن أطلب من أحد أعضاء الفريق التواصل معك. يرجى ترك بريدك "
        "الإلكتروني وسيتواصل معك أحد.",
        "zh": "我是自动助手，但我可以请团队中的工作人员跟进。"
        "请留下您的电子邮件地址，会有人回复您。",
        "ja": "私は自動アシスタントですが、チームの担当者からご連絡するよう手配できます。"
        "メールアドレスを残していただければ、担当者よりご連絡します。",
    },
    # "I'm an automated assistant, but I've asked a person from the team to follow up: they
    # will get back to you using the contact details you left." (an address or a number)
    "human_address_left": {
        "de": "Ich bin ein automatischer Assistent, aber ich habe eine Person aus dem Team "
        "gebeten, sich zu melden: Sie bekommen eine Antwort über die Kontaktdaten, die Sie "
        "hinterlassen haben.",
        "fr": "Je suis un assistant automatique, mais j'ai demandé à une personne de l'équipe de "
        "vous recontacter : elle vous répondra grâce aux coordonnées que vous avez laissées.",
        "es": "Soy un asistente automático, pero he pedido a una persona del equipo que le "
        "contacte: le responderá a través de los datos de contacto que dejó.",
        "pt": "Sou um assistente automático, mas pedi a uma pessoa da equipe que entre em "
        "contato: ela responderá pelos dados de contato que você deixou.",
        "it": "Sono un assistente automatico, ma ho chiesto a una persona del team di "
        "ricontattarla: le risponderà ai recapiti che ha lasciato.",
        "hi": "मैं एक स्वचालित सहायक हूँ, लेकिन मैंने टीम के किसी व्यक्ति से आपसे संपर्क करने को "
        "कहा है: वे आपके छोड़े गए संपर्क विवरण पर आपसे संपर्क करेंगे।",
        "hi-Latn": "Main ek automated assistant hoon, lekin maine team ke kisi vyakti se aapse "
        "sampark karne ko kaha hai: woh aapke chhode gaye contact details par aapse sampark "
        "karenge.",
        "ru": "Я автоматический ассистент, но я попросил сотрудника команды связаться с вами: "
        "с вами свяжутся по контактам, которые вы оставили.",
        "ar": "أنا مساعد آلي، لكني طلبت من أحد أعضاء الفريق المتابعة: سيتواصل معك عبر بيانات "
        "الاتصال التي تركتها.",
        "zh": "我是自动助手，但我已请团队中的工作人员跟进：他们会通过您留下的联系方式回复您。",
        "ja": "私は自動アシスタントですが、チームの担当者に対応を依頼しました。残していただいた"
        "連絡先にご連絡します。",
    },
    # "I'm an automated assistant, so I can't connect you with a person in this chat. I've
    # noted your request for the team." (then the hint: lead capture "Never")
    "human_no_contact": {
        "de": "Ich bin ein automatischer Assistent und kann Sie in diesem Chat nicht mit einer "
        "Person verbinden. Ich habe Ihre Anfrage für das Team notiert.",
        "fr": "Je suis un assistant automatique : je ne peux pas vous mettre en relation avec "
        "une personne dans ce chat. J'ai noté votre demande pour l'équipe.",
        "es": "Soy un asistente automático, así que no puedo ponerle en contacto con una "
        "persona en este chat. He anotado su solicitud para el equipo.",
        "pt": "Sou um assistente automático, por isso não consigo conectá-lo a uma pessoa neste "
        "chat. Anotei seu pedido para a equipe.",
        "it": "Sono un assistente automatico, quindi non posso metterla in contatto con una "
        "persona in questa chat. Ho annotato la sua richiesta per il team.",
        "hi": "मैं एक स्वचालित सहायक हूँ, इसलिए इस चैट में आपको किसी व्यक्ति से नहीं जोड़ सकता। "
        "मैंने टीम के लिए आपका अनुरोध दर्ज कर लिया है।",
        "hi-Latn": "Main ek automated assistant hoon, isliye is chat mein aapko kisi vyakti se "
        "nahi jod sakta. Maine team ke liye aapka anurodh note kar liya hai.",
        "ru": "Я автоматический ассистент, поэтому не могу соединить вас с человеком в этом "
        "чате. Я передал ваш запрос команде.",
        "ar": "أنا مساعد آلي، لذا لا يمكنني توصيلك بشخص في هذه المحادثة. لقد سجّلت طلبك للفريق.",
        "zh": "我是自动助手，无法在此聊天中为您转接真人。我已为团队记下您的请求。",
        "ja": "私は自動アシスタントのため、このチャットで担当者におつなぎすることはできません。"
        "ご要望はチームに伝えました。",
    },
    # "To reach the team, please use the contact details on this website."
    "no_contact_hint": {
        "de": "Um das Team zu erreichen, nutzen Sie bitte die Kontaktdaten auf dieser Website.",
        "fr": "Pour joindre l'équipe, utilisez les coordonnées indiquées sur ce site.",
        "es": "Para contactar con el equipo, utilice los datos de contacto de este sitio web.",
        "pt": "Para falar com a equipe, use os dados de contato deste site.",
        "it": "Per contattare il team, usi i recapiti indicati su questo sito.",
        "hi": "टीम से संपर्क करने के लिए, कृपया इस वेबसाइट पर दिए गए संपर्क विवरण का उपयोग करें।",
        "hi-Latn": "Team se sampark karne ke liye, kripya is website par diye gaye contact "
        "details ka upyog karein.",
        "ru": "Чтобы связаться с командой, воспользуйтесь контактными данными на этом сайте.",
        "ar": "للتواصل مع الفريق، يرجى استخدام بيانات الاتصال الموجودة على هذا الموقع.",
        "zh": "如需联系团队，请使用本网站上的联系方式。",
        "ja": "チームへのお問い合わせは、このウェブサイトに記載の連絡先をご利用ください。",
    },
    # "Thanks, but this chat doesn't collect contact details, so your details were not passed
    # on." (then the hint; an address or a phone number typed under lead capture "Never")
    "contact_declined": {
        "de": "Danke, aber dieser Chat nimmt keine Kontaktdaten entgegen, Ihre Angaben wurden "
        "also nicht weitergegeben.",
        "fr": "Merci, mais ce chat ne recueille pas de coordonnées : les vôtres n'ont pas été "
        "transmises.",
        "es": "Gracias, pero este chat no recoge datos de contacto, así que sus datos no se "
        "han transmitido.",
        "pt": "Obrigado, mas este chat não coleta dados de contato, então seus dados não foram "
        "repassados.",
        "it": "Grazie, ma questa chat non raccoglie recapiti, quindi i suoi non sono stati "
        "inoltrati.",
        "hi": "धन्यवाद, लेकिन यह चैट संपर्क विवरण नहीं लेता, इसलिए आपका विवरण आगे नहीं भेजा गया।",
        "hi-Latn": "Dhanyavaad, lekin yeh chat contact details nahi leta, isliye aapki details "
        "aage nahi bheji gayi.",
        "ru": "Спасибо, но этот чат не собирает контактные данные, поэтому ваши данные никому не "
        "переданы.",
        "ar": "شكرًا، لكن هذه المحادثة لا تجمع بيانات الاتصال، لذا لم يتم تمرير بياناتك.",
        "zh": "谢谢，但此聊天不收集联系方式，因此您的联系方式未被转交。",
        "ja": "ありがとうございます。ただ、このチャットでは連絡先をお預かりしていないため、"
        "ご連絡先は転送されていません。",
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
    # "Thank you! I've passed your message on; someone from the team will email you." (an
    # address typed into the chat, taken as a lead)
    "contact": {
        "de": "Vielen Dank! Ich habe Ihre Nachricht weitergegeben; jemand aus dem Team wird "
        "Ihnen eine E-Mail schreiben.",
        "fr": "Merci ! J'ai transmis votre message ; une personne de l'équipe vous écrira par "
        "e-mail.",
        "es": "¡Gracias! He transmitido su mensaje; alguien del equipo le escribirá por correo "
        "electrónico.",
        "pt": "Obrigado! Encaminhei sua mensagem; alguém da equipe vai enviar um e-mail para você.",
        "it": "Grazie! Ho inoltrato il suo messaggio; qualcuno del team le scriverà via email.",
        "hi": "धन्यवाद! मैंने आपका संदेश आगे भेज दिया है; टीम का कोई सदस्य आपको ईमेल करेगा।",
        "hi-Latn": "Dhanyavaad! Maine aapka sandesh aage bhej diya hai; team ka koi sadasya aapko "
        "email karega.",
        "ru": "Спасибо! Я передал ваше сообщение; сотрудник команды напишет вам по электронной "
        "почте.",
        "ar": "شكرًا لك! لقد نقلت رسالتك؛ سيراسلك أحد أعضاء الفريق عبر البريد الإلكتروني.",
        "zh": "谢谢！我已转达您的留言，团队成员会通过电子邮件联系您。",
        "ja": "ありがとうございます！メッセージをお伝えしました。チームの担当者からメールで"
        "ご連絡します。",
    },
    # "Thank you! I've passed your message on; someone from the team will call you." (a phone
    # number left in the chat, and no address, taken as a lead)
    "contact_phone": {
        "de": "Vielen Dank! Ich habe Ihre Nachricht weitergegeben; jemand aus dem Team wird Sie "
        "anrufen.",
        "fr": "Merci ! J'ai transmis votre message ; une personne de l'équipe vous appellera.",
        "es": "¡Gracias! He transmitido su mensaje; alguien del equipo le llamará.",
        "pt": "Obrigado! Encaminhei sua mensagem; alguém da equipe vai ligar para você.",
        "it": "Grazie! Ho inoltrato il suo messaggio; qualcuno del team la chiamerà.",
        "hi": "धन्यवाद! मैंने आपका संदेश आगे भेज दिया है; टीम का कोई सदस्य आपको कॉल करेगा।",
        "hi-Latn": "Dhanyavaad! Maine aapka sandesh aage bhej diya hai; team ka koi sadasya aapko "
        "call karega.",
        "ru": "Спасибо! Я передал ваше сообщение; сотрудник команды вам позвонит.",
        "ar": "شكرًا لك! لقد نقلت رسالتك؛ سيتصل بك أحد أعضاء الفريق هاتفيًا.",
        "zh": "谢谢！我已转达您的留言，团队成员会给您打电话。",
        "ja": "ありがとうございます！メッセージをお伝えしました。チームの担当者からお電話で"
        "ご連絡します。",
    },
    # "Thank you! So that someone from the team can get back to you, please leave your email
    # address too." (a name typed where contact details were asked for: rag.chat.contact_names)
    "name_given": {
        "de": "Vielen Dank! Damit sich jemand aus dem Team bei Ihnen melden kann, hinterlassen "
        "Sie bitte auch Ihre E-Mail-Adresse.",
        "fr": "Merci ! Pour qu'une personne de l'équipe puisse vous recontacter, laissez aussi "
        "votre adresse e-mail, s'il vous plaît.",
        "es": "¡Gracias! Para que alguien del equipo pueda responderle, deje también su "
        "dirección de correo electrónico, por favor.",
        "pt": "Obrigado! Para que alguém da equipe possa retornar o contato, deixe também seu "
        "endereço de e-mail, por favor.",
        "it": "Grazie! Perché qualcuno del team possa ricontattarla, lasci anche il suo "
        "indirizzo email, per favore.",
        "hi": "धन्यवाद! ताकि टीम का कोई सदस्य आपसे संपर्क कर सके, कृपया अपना ईमेल पता भी दें।",
        "hi-Latn": "Dhanyavaad! Taaki team ka koi sadasya aapse sampark kar sake, kripya apna "
        "email pata bhi dijiye.",
        "ru": "Спасибо! Чтобы сотрудник команды мог с вами связаться, пожалуйста, оставьте "
        "также свой адрес электронной почты.",
        "ar": "شكرًا لك! حتى يتمكن أحد أعضاء الفريق من التواصل معك، يُرجى ترك عنوان بريدك "
        "الإلكتروني أيضًا.",
        "zh": "谢谢！为了让团队成员能与您联系，请同时留下您的电子邮件地址。",
        "ja": "ありがとうございます！チームの担当者からご連絡できるよう、メールアドレスも"
        "お知らせください。",
    },
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
    # "Thanks! We'll be in touch at {email}." (the widget's contact form: ``rag.chat.lead_thanks``)
    "lead_thanks": {
        "de": "Danke! Wir melden uns unter {email}.",
        "fr": "Merci ! Nous vous contacterons à l'adresse {email}.",
        "es": "¡Gracias! Nos pondremos en contacto con usted en {email}.",
        "pt": "Obrigado! Entraremos em contato pelo e-mail {email}.",
        "it": "Grazie! La contatteremo all'indirizzo {email}.",
        "hi": "धन्यवाद! हम {email} पर आपसे संपर्क करेंगे।",
        "hi-Latn": "Dhanyavaad! Hum {email} par aapse sampark karenge.",
        "ru": "Спасибо! Мы свяжемся с вами по адресу {email}.",
        "ar": "شكرًا! سنتواصل معك على {email}.",
        "zh": "谢谢！我们会通过 {email} 与您联系。",
        "ja": "ありがとうございます！{email} 宛てにご連絡します。",
    },
    # "I'd be happy to connect you with our team about plans, pricing or a demo." (a sales
    # lead the knowledge says nothing about: ``intents.persona_reply("lead")``; then one of the
    # two below)
    "lead": {
        "de": "Gerne verbinde ich Sie mit unserem Team zu Tarifen, Preisen oder einer Demo.",
        "fr": "Je serais ravi de vous mettre en relation avec notre équipe au sujet des offres, "
        "des tarifs ou d'une démo.",
        "es": "Con gusto le pongo en contacto con nuestro equipo sobre planes, precios o una "
        "demostración.",
        "pt": "Terei prazer em colocar você em contato com nossa equipe sobre planos, preços ou "
        "uma demonstração.",
        "it": "Sarò lieto di metterla in contatto con il nostro team per piani, prezzi o una demo.",
        "hi": "मुझे प्लान, कीमत या डेमो के बारे में आपको हमारी टीम से जोड़ने में खुशी होगी।",
        "hi-Latn": "Mujhe plans, pricing ya demo ke baare mein aapko hamari team se jodne mein "
        "khushi hogi.",
        "ru": "С радостью свяжу вас с нашей командой по вопросам тарифов, цен или демонстрации.",
        "ar": "يسعدني أن أوصلك بفريقنا بشأن الخطط أو الأسعار أو عرض توضيحي.",
        "zh": "我很乐意为您联系我们的团队，咨询套餐、价格或产品演示。",
        "ja": "プラン、料金、デモについて、喜んでチームにおつなぎします。",
    },
    # "Please leave your email address and someone will get back to you shortly."
    "lead_leave": {
        "de": "Bitte hinterlassen Sie Ihre E-Mail-Adresse, dann meldet sich in Kürze jemand bei "
        "Ihnen.",
        "fr": "Laissez votre adresse e-mail et quelqu'un vous répondra rapidement.",
        "es": "Deje su correo electrónico y alguien le responderá en breve.",
        "pt": "Deixe seu e-mail e alguém responderá em breve.",
        "it": "Lasci il suo indirizzo email e qualcuno le risponderà a breve.",
        "hi": "कृपया अपना ईमेल पता छोड़ दें, कोई जल्द ही आपसे संपर्क करेगा।",
        "hi-Latn": "Kripya apna email address chhod dijiye, koi jald hi aapse sampark karega.",
        "ru": "Оставьте, пожалуйста, свой адрес электронной почты, и вам скоро ответят.",
        "ar": "يرجى ترك بريدك الإلكتروني وسيتواصل معك أحد قريبًا.",
        "zh": "请留下您的电子邮件地址，很快会有人回复您。",
        "ja": "メールアドレスを残していただければ、担当者より折り返しご連絡します。",
    },
    # "They can see your request and follow up using the contact details you left."
    "lead_address_left": {
        "de": "Das Team sieht Ihre Anfrage und meldet sich über die Kontaktdaten, die Sie "
        "hinterlassen haben.",
        "fr": "L'équipe voit votre demande et vous recontactera grâce aux coordonnées que vous "
        "avez laissées.",
        "es": "El equipo puede ver su solicitud y le responderá a través de los datos de contacto "
        "que dejó.",
        "pt": "A equipe pode ver sua solicitação e vai responder pelos dados de contato que você "
        "deixou.",
        "it": "Il team può vedere la sua richiesta e la ricontatterà ai recapiti che ha lasciato.",
        "hi": "टीम आपका अनुरोध देख सकती है और आपके छोड़े गए संपर्क विवरण पर आपसे संपर्क करेगी।",
        "hi-Latn": "Team aapka anurodh dekh sakti hai aur aapke chhode gaye contact details par "
        "aapse sampark karegi.",
        "ru": "Команда видит ваш запрос и свяжется с вами по контактам, которые вы оставили.",
        "ar": "يمكن للفريق رؤية طلبك وسيتواصل معك عبر بيانات الاتصال التي تركتها.",
        "zh": "团队可以看到您的请求，并会通过您留下的联系方式跟进。",
        "ja": "チームがご依頼を確認し、残していただいた連絡先にご連絡します。",
    },
    # "I can't arrange a demo, a quote or a purchase here." (lead capture "Never"; then the
    # owner's no_contact_hint, else its default)
    "lead_no_contact": {
        "de": "Eine Demo, ein Angebot oder einen Kauf kann ich hier nicht vereinbaren.",
        "fr": "Je ne peux pas organiser de démo, de devis ni d'achat ici.",
        "es": "Aquí no puedo organizar una demostración, un presupuesto ni una compra.",
        "pt": "Não consigo agendar uma demonstração, um orçamento ou uma compra por aqui.",
        "it": "Qui non posso organizzare una demo, un preventivo o un acquisto.",
        "hi": "मैं यहाँ डेमो, कोटेशन या खरीदारी की व्यवस्था नहीं कर सकता।",
        "hi-Latn": "Main yahan demo, quote ya kharidari ki vyavastha nahi kar sakta.",
        "ru": "Здесь я не могу организовать демонстрацию, расчёт стоимости или покупку.",
        "ar": "لا يمكنني ترتيب عرض توضيحي أو عرض سعر أو عملية شراء هنا.",
        "zh": "我无法在这里安排演示、报价或购买。",
        "ja": "ここではデモ、お見積もり、ご購入の手配はできません。",
    },
}


def translated(reply: Reply, language: Language | None, *, name: str = "") -> str | None:
    """``reply`` in ``language`` (``{name}`` filled in with the bot's name); None for English,
    an unknown language, or a reply with no translation in it."""
    if language is None:
        return None
    text = _T[reply].get(language)
    return None if text is None else text.replace("{name}", name)


def languages(reply: Reply) -> frozenset[Language]:
    """The languages ``reply`` has a translation in."""
    return frozenset(_T[reply])


def _joined(language: Language, first: str, then: str | None) -> str:
    """Two sentences of a reply (no blank between them in Chinese and Japanese)."""
    if then is None:
        return first
    return first + ("" if language in ("zh", "ja") else " ") + then


def dont_know_reply(
    language: Language | None, *, offer_contact: bool = True, address_left: bool = False
) -> str:
    """``prompts.dont_know_answer`` in ``language`` (English without a translation)."""
    first = translated("dont_know", language)
    if language is None or first is None:
        return dont_know_answer(offer_contact=offer_contact, address_left=address_left)
    then: Reply | None = (
        "dont_know_address_left" if address_left else "dont_know_offer" if offer_contact else None
    )
    return _joined(language, first, None if then is None else translated(then, language))


def lead_reply(
    language: Language | None,
    bot_name: str,
    *,
    offer_contact: bool = True,
    address_left: bool = False,
    hint: str | None = None,
) -> str:
    """``intents.persona_reply("lead")`` in ``language`` (English without a translation):
    ``hint``, the owner's words for where to reach the team under lead capture "Never", as
    they wrote it (else the default hint in ``language``)."""
    first = translated("lead", language)
    if language is None or first is None:
        return persona_reply(
            "lead", bot_name, offer_contact=offer_contact, address_left=address_left, hint=hint
        )
    if address_left:
        return _joined(language, first, translated("lead_address_left", language))
    if not offer_contact:
        cannot = translated("lead_no_contact", language) or first
        return _joined(language, cannot, hint or translated("no_contact_hint", language))
    return _joined(language, first, translated("lead_leave", language))


def unavailable_reply(language: Language | None, *, offer_contact: bool = True) -> str:
    """``prompts.fallback_answer`` in ``language`` (English without a translation)."""
    first = translated("unavailable", language)
    if language is None or first is None:
        return fallback_answer("", offer_contact=offer_contact)
    then = translated("unavailable_offer", language) if offer_contact else None
    return _joined(language, first, then)
