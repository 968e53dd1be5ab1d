# ruff: noqa: RUF001 (the replies are written in their own scripts and punctuation)
"""Canned replies to a sales lead (a demo, a quote, a purchase asked for), in each language of
``rag.chat.translations``, and the thanks for the widget's contact form (``lead_thanks``). Each
entry's comment is the English."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.chat.reply_language import Language

if TYPE_CHECKING:
    from rag.chat.translations import Reply

LEADS: dict[Reply, dict[Language, str]] = {
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
