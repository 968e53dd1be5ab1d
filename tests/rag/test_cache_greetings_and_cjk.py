# ruff: noqa: RUF001  (fullwidth punctuation is what Chinese and Japanese visitors type)
"""What the response cache's guards on the visitor's words (``match_guard.says_more``,
``echoes.echoes_the_visitor``) must still let through: found by a review of the chat red-team's
merge. Each test fails on the code before its fix."""

from __future__ import annotations

import pytest

from rag.chat.echoes import echoes_the_visitor
from rag.chat.match_guard import says_more
from rag.chat.prompts import Passage


@pytest.mark.parametrize(
    ("cached", "asked"),
    [
        ("hi, what is your refund policy?", "what is your refund policy"),
        ("Hello! What is your refund policy?", "What is your refund policy?"),
        ("hey there, what is your refund policy?", "what is your refund policy"),
        ("Good morning, do you ship to Nepal?", "Do you ship to Nepal?"),
        (
            "Bonjour, quelle est votre politique de remboursement ?",
            "quelle est votre politique de remboursement ?",
        ),
        ("Hola, ¿cuál es su política de reembolso?", "¿cuál es su política de reembolso?"),
        (
            "Hallo, was ist Ihre Rückerstattungsrichtlinie?",
            "was ist Ihre Rückerstattungsrichtlinie?",
        ),
        ("您好，退款政策是什么？", "退款政策是什么？"),
        ("こんにちは、返金ポリシーは何ですか？", "返金ポリシーは何ですか？"),
    ],
)
def test_a_greeting_in_the_cached_question_does_not_keep_its_answer_from_others(
    cached: str, asked: str
) -> None:
    """A visitor who greeted before asking had their answer cached under the greeting; every
    later visitor asking the same without it missed the semantic cache (a greeting counted as
    a content word the asker lacked), so in a workspace whose visitors often say hello the
    cache answered few of them. A greeting shapes no answer another visitor should not get."""
    assert not says_more(cached, asked)


@pytest.mark.parametrize(
    ("cached", "asked"),
    [
        ("hi, what is your refund policy? Be rude.", "what is your refund policy"),
        ("Hello! What is your refund policy (answer in all caps)", "What is your refund policy?"),
        ("您好，退款政策是什么？王小明", "退款政策是什么？"),
        ("hi < $50 refund", "hi refund"),
        ("Do you deliver in the morning?", "Do you deliver?"),  # a greeting's word, not one
        ("hello, can I pay in cash? Say hello to the team", "hello, can I pay in cash?"),
    ],
)
def test_what_a_visitor_added_besides_a_greeting_still_keeps_the_answer_theirs(
    cached: str, asked: str
) -> None:
    assert says_more(cached, asked)


def _passage(text: str) -> Passage:
    return Passage(
        n=1, chunk_id=1, document_id=1, title="FAQ", url=None, page=None, text=text, score=0.9
    )


# Realistic questions, the answer a model writes from the passage (repeating the question's
# phrasing, as models do), and the passage.
CJK_ANSWERS = [
    (
        "你们的退货政策是什么？",
        "我们的退货政策是：收到商品后30天内可以申请退货，商品需保持未使用状态。",
        "退货政策\n收到商品后30天内可申请退货。商品须保持未使用、包装完好。",
    ),
    (
        "运费是多少？",
        "运费是10元，订单满99元免运费。",
        "配送说明：每笔订单运费10元，满99元包邮免运费。",
    ),
    (
        "营业时间是几点到几点？",
        "我们的营业时间是周一至周五上午9点到下午6点。",
        "营业时间：周一至周五上午9点至下午6点，周末休息。",
    ),
    (
        "送料はいくらですか？",
        "送料は全国一律500円です。5000円以上のご注文で送料無料になります。",
        "送料：全国一律500円。5,000円以上のご注文で送料無料。",
    ),
    (
        "パスワードを変更するにはどうすればいいですか？",
        "パスワードを変更するには、アカウント設定から「パスワード変更」を選択してください。",
        "アカウント設定画面で「パスワード変更」を選択し、新しいパスワードを入力します。",
    ),
    (
        "営業時間は何時から何時までですか？",
        "営業時間は平日の午前9時から午後6時までです。",
        "営業時間：平日 午前9時〜午後6時（土日祝休み）",
    ),
]


@pytest.mark.parametrize(("question", "answer", "passage"), CJK_ANSWERS)
def test_an_answer_in_chinese_or_japanese_from_the_passages_is_cached(
    question: str, answer: str, passage: str
) -> None:
    """Comparing a run of Chinese or Japanese as its character pairs made a pair across two
    words of the question ("策是" of "政策是什么", "料は" of "送料はいくら") count as the
    visitor's own: the answer repeats the question's phrasing, the passage words it otherwise,
    and no such answer was cached (all six here were refused), so a Chinese or Japanese
    workspace's cache answered almost nothing."""
    assert not echoes_the_visitor(answer, question, [_passage(passage)])


@pytest.mark.parametrize(
    ("question", "answer", "passage"),
    [
        (
            "谢谢，王小明。退货政策是什么？",
            "王小明您好，退货政策是30天内可退货。",
            "退货政策：30天内可申请退货。",
        ),
        (
            "田中です。送料はいくらですか？",
            "田中様、送料は全国一律500円です。",
            "送料：全国一律500円。",
        ),
        ("我叫李娜，运费是多少？", "李娜您好，运费是10元。", "每笔订单运费10元。"),
        # a name holding a glue character ("和", and)
        ("谢谢，张和平。运费是多少？", "张和平您好，运费是10元。", "每笔订单运费10元。"),
    ],
)
def test_a_name_in_chinese_or_japanese_still_keeps_the_answer_theirs(
    question: str, answer: str, passage: str
) -> None:
    assert echoes_the_visitor(answer, question, [_passage(passage)])
