"""The questions bench.chat_http (and bench.chat_db, bench.topology) ask the demo workspace.

- ``CACHE_QUESTIONS``: warmed once, then served from the response cache;
- ``unique_questions``: the rag scenario's questions, each new (a reference number at the end, so
  neither the exact cache nor the semantic one answers it: the match guard refuses two questions
  that name different numbers) and each answerable from the demo's four documents, so the rag
  path (retrieval + generation) is what is measured, not "I don't know".

The rag questions used to be templates around a topic and a visitor ("Could you tell me
about {topic} for {a dental clinic}? Reference 123-A."); once RETRIEVAL_MIN_SIMILARITY went from
0.28 to 0.38, about half of them fell back to "I don't know" (the visitor and template words
drowned the topic). ``python -m bench.chat_questions`` prints the retrieval similarity of each
question as the product decides it (``bench.chat_similarity``) and the share that would fall
back, for these questions and for the old ones (about 0 and 51 % of 200).
"""

from __future__ import annotations

import argparse
import random

# Questions the demo documents answer (warmed once, then served from the response cache).
CACHE_QUESTIONS = [
    "How much is the Family plan?",
    "Can I get a refund on a yearly plan?",
    "Does it work on Linux?",
    "How do I restore a deleted file?",
    "What happens if I lose my encryption key?",
    "How many devices does the Personal plan cover?",
    "Can I downgrade from Business to Family?",
    "How long are file versions kept on the Business plan?",
    "How much does the Family plan cost per month?",
    "What does the Personal plan cost per month?",
    "How much is the Business plan per user per month?",
    "Do students and non-profits get a discount on any plan?",
]

# The rag scenario's questions by topic, each answered by the demo documents (api/demo/*.md),
# worded so that a greeting and a reference number leave the best passage's similarity above
# RETRIEVAL_MIN_SIMILARITY (checked with ``python -m bench.chat_questions``).
RAG_QUESTIONS: dict[str, list[str]] = {
    "the Family plan price": [
        "How much does the Family plan cost?",
        "What is the monthly price of the Family plan?",
        "What does the Family plan cost per year?",
        "How many people and devices does the Family plan cover?",
    ],
    "the Personal plan": [
        "How much storage does the Personal plan include?",
        "Does the Personal plan keep 30 days of file versions?",
        "What does the Personal plan cost per month?",
    ],
    "the Business plan": [
        "What is the minimum number of users on the Business plan?",
        "How much storage does each Business user get?",
        "What does the Business plan cost per user?",
    ],
    "refunds": [
        "Can I get a refund on a yearly plan?",
        "How long do refunds take to arrive?",
        "Are monthly plans refunded for a partly used month?",
    ],
    "cancelling": [
        "How do I cancel my subscription?",
        "What happens to my backups after I cancel?",
        "How long are backups kept after cancelling?",
    ],
    "downgrades": [
        "When does a downgrade take effect?",
        "What happens if my backups are larger than the new plan allows after a downgrade?",
    ],
    "installing": [
        "How do I install the Acme app on Windows?",
        "Where do I download the Acme app and how do I install it?",
        "How do I install Acme Cloud Backup on my phone?",
    ],
    "folders": [
        "Can I back up an external drive?",
        "Which folders are backed up by default?",
        "How do I exclude videos from my backups?",
    ],
    "restoring": [
        "How do I restore files from an earlier date?",
        "Can I restore deleted files?",
        "Can I restore files to a new folder?",
    ],
    "versions": [
        "How much shared storage does the Family plan have?",
        "What is the storage limit of the Personal plan?",
        "How long does the Business plan keep file versions?",
    ],
    "the encryption key": [
        "Can anyone recover my backups if I lose my private encryption key?",
        "Can your support team recover my backups without my encryption key?",
    ],
    "platforms": [
        "Does Acme Cloud Backup run on Linux?",
        "Which versions of macOS and Windows does Acme Cloud Backup run on?",
        "Which iOS or Android version do the Acme phone apps need?",
        "Can I back up a NAS network drive?",
    ],
    "discounts and trials": [
        "Do students get a discount on Acme Cloud Backup plans?",
        "Do registered non-profits get a discount on any plan?",
        "Does every plan start with a free trial?",
    ],
    "the backup schedule": [
        "How often does Acme back up my files?",
        "How long does the first backup take?",
        "Can I change the backup schedule to daily?",
    ],
}

OPENERS = ["", "Hi! ", "Hello, ", "Quick question. "]

# The old questions, kept to compare with (``python -m bench.chat_questions``).
OLD_TOPICS = [
    "the Family plan price",
    "the Personal plan storage",
    "Business plan single sign-on",
    "a refund for a yearly subscription",
    "cancelling my subscription",
    "downgrading my plan",
    "installing the app on Windows",
    "backing up an external drive",
    "restoring an old version of a file",
    "my encryption key",
    "Linux support",
    "the student discount",
    "phone backups",
    "versioned backups",
    "how long versions are kept",
    "the minimum number of business users",
]
OLD_TEMPLATES = [
    "Could you tell me about {t} for {w}?",
    "I need details on {t}, asking on behalf of {w}",
    "{w} wants to know: what about {t}?",
    "Quick question regarding {t} ({w})",
    "Please explain {t}; this is for {w}",
    "What are the rules for {t} when it comes to {w}?",
    "Is there anything I should know about {t} as {w}?",
    "Help me understand {t}, I am asking for {w}",
]
OLD_WHO = [
    "my grandmother",
    "a small bakery",
    "our school club",
    "a photographer in Pune",
    "my two laptops",
    "a dental clinic",
    "our non-profit",
    "a remote team of six",
    "my gaming PC",
    "a law office",
    "my home NAS",
    "a startup in Bengaluru",
    "an old MacBook",
    "a yoga studio",
    "my teenage kids",
    "a freelance designer",
]


def _reference(rng: random.Random) -> str:
    return f"Reference {rng.randint(100, 99999)}-{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}."


def unique_questions(n: int, rng: random.Random) -> list[str]:
    """``n`` different rag questions: an opener, a question of ``RAG_QUESTIONS``, a reference."""
    asks = [q for questions in RAG_QUESTIONS.values() for q in questions]
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        q = f"{rng.choice(OPENERS)}{rng.choice(asks)} {_reference(rng)}"
        if q not in seen:
            seen.add(q)
            out.append(q)
    return out


def old_unique_questions(n: int, rng: random.Random) -> list[str]:
    """The old rag questions (see the module's docstring)."""
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        q = rng.choice(OLD_TEMPLATES).format(t=rng.choice(OLD_TOPICS), w=rng.choice(OLD_WHO))
        q = f"{q} {_reference(rng)}"
        if q not in seen:
            seen.add(q)
            out.append(q)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="questions of each workload")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--list", action="store_true", help="print every question's similarity")
    args = parser.parse_args(argv)

    from bench.chat_similarity import fallbacks

    for label, make in (("current", unique_questions), ("old", old_unique_questions)):
        questions = make(args.n, random.Random(args.seed))
        scored = fallbacks(questions)
        declined = [s for s in scored if not s.answered]
        print(f'{label}: {len(declined)} of {len(scored)} would be "I don\'t know"')
        for s in sorted(scored, key=lambda s: s.similarity) if args.list else declined:
            verdict = "rag" if s.answered else "I don't know"
            scores = f"{s.similarity:.3f}  words {s.words:.2f}"
            print(f"  {scores}  {s.page:12}  {verdict:12}  {s.question}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
