# ruff: noqa: RUF001 (the replies are written in their own scripts and punctuation)
"""Canned replies to a visitor asking for a person and leaving contact details, in each language
of ``rag.chat.translations``: the hand-off (with or without an address left, under lead capture
"Never" and its hint), contact details typed into the chat (an address, a phone number, a name).
Each entry's comment is the English."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.chat.reply_language import Language

if TYPE_CHECKING:
    from rag.chat.translations import Reply

HANDOFF: dict[Reply, dict[Language, str]] = {
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
}
