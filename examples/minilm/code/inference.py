"""SageMaker inference handler: all-MiniLM-L6-v2 sentence embeddings.

The SageMaker PyTorch inference toolkit imports this module from ``<model_dir>/code`` and runs
``model_fn`` once per worker, then ``input_fn`` -> ``predict_fn`` -> ``output_fn`` per request.

Request (``POST /invocations``, ``Content-Type: application/json``)::

    {"inputs": "a sentence"}            or    {"inputs": ["s1", "s2", ...]}

Response (``application/json``), one L2-normalized 384-float vector per input, in input order::

    {"embeddings": [[...], ...]}

Errors (SageMaker PyTorch container). A bad request raises
``sagemaker_inference.errors.GenericInferenceToolkitError(status, message)``: the toolkit's
``Transformer.transform`` catches every ``BaseInferenceToolkitError`` and answers with its ``status_code``,
the message as reason phrase and ``message + traceback`` as body. Any other exception, including the
toolkit's own ``UnsupportedFormatError`` (a plain ``Exception``), becomes a 500; that is why this module
never raises it. Statuses: 400 invalid body, 415 unsupported Content-Type, 406 unsupported Accept.
(The Hugging Face container's handler service answers 400 for every exception instead.)

Environment, read once when the module is imported (the worker's start-up):

- ``MAX_BATCH_SIZE`` (default 64): most sentences in one request.
- ``MAX_INPUT_CHARS`` (default 10000): most characters in one sentence.
- ``EMBEDDING_CACHE_SIZE`` (default 1024, 0 disables): in-process LRU cache of vectors per sentence.
  A hit returns exactly the vector computed the first time; every request logs one INFO line
  ``cache hits=.. misses=..`` with the worker's running totals.

Three kinds of artifact, one request/response contract, cache and settings:

- eager (``model.safetensors`` and the sentence-transformers files): loaded with
  sentence-transformers. Dependencies: the container's (sagemaker_inference, numpy, torch) plus
  sentence-transformers (``code/requirements.txt``).
- traced (``neo_input.json`` beside ``compiled.pt``/``model.pt``, SageMaker Neo's output, or
  ``model.pth``, the Neo input that ``model_packaging.neo`` builds): the TorchScript module is
  loaded with ``torch.jit.load`` (after ``neopytorch.config`` where the Neo image has it), texts are
  tokenized with the ``tokenizers`` library from ``tokenizer.json``, truncated and padded to the
  traced sequence length, and run in chunks of the traced batch size (the last chunk padded).
  Dependencies: the container's (sagemaker_inference, numpy, torch; neopytorch in Neo's images)
  plus tokenizers (``examples/minilm/neo/requirements.txt``); no sentence-transformers or
  transformers, whose releases need a newer torch than Neo's images have. Neo's images do not
  publish their Python version, so this module runs on Python 3.8 and newer.
- ONNX (``onnx_model.json`` beside ``model.onnx``, the folder ``model_packaging.optimize`` writes):
  the graph (Transformer, pooling and normalization in one, int8 or fp32 weights) runs in an
  onnxruntime ``InferenceSession`` on CPU; texts are tokenized with the ``tokenizers`` library from
  ``tokenizer.json``, truncated at the metadata's ``max_seq_length`` and padded to the longest text
  of a run, ``batch_size`` texts per run (1 for int8: dynamic quantization scales activations per
  run, so a text's vector would otherwise depend on the texts beside it). Dependencies: onnxruntime
  and tokenizers (``examples/minilm/onnx/requirements.txt``) beside the container's numpy and
  sagemaker_inference; neither torch nor sentence-transformers is imported. ``ONNX_THREADS``
  (read by ``model_fn``; unset or 0: onnxruntime's default, one thread per physical core) sets the
  session's intra-op threads.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sagemaker_inference.errors import GenericInferenceToolkitError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"
DEFAULT_MAX_BATCH_SIZE = 64
DEFAULT_MAX_INPUT_CHARS = 10_000
DEFAULT_EMBEDDING_CACHE_SIZE = 1024
ENCODE_BATCH_SIZE = 32
NEO_METADATA_FILE = "neo_input.json"
TRACED_MODEL_FILES = ("compiled.pt", "model.pt", "model.pth")
"""Neo's compiled module (its older and newer names) before the Neo input's trace."""
ONNX_METADATA_FILE = "onnx_model.json"
ONNX_MODEL_FILE = "model.onnx"

# The artifact carries the model: never reach out to a hub (set before sentence-transformers is imported).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@dataclass(frozen=True)
class Settings:
    """Request limits and cache size, from the container environment."""

    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_input_chars: int = DEFAULT_MAX_INPUT_CHARS
    cache_size: int = DEFAULT_EMBEDDING_CACHE_SIZE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``MAX_BATCH_SIZE``, ``MAX_INPUT_CHARS`` and ``EMBEDDING_CACHE_SIZE``; fail on bad values."""
        env = os.environ if environ is None else environ
        return cls(
            max_batch_size=_int_setting(env, "MAX_BATCH_SIZE", DEFAULT_MAX_BATCH_SIZE, minimum=1),
            max_input_chars=_int_setting(env, "MAX_INPUT_CHARS", DEFAULT_MAX_INPUT_CHARS, minimum=1),
            cache_size=_int_setting(env, "EMBEDDING_CACHE_SIZE", DEFAULT_EMBEDDING_CACHE_SIZE, minimum=0),
        )


def _int_setting(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ValueError(f"{name}={value} must be >= {minimum}")
    return value


SETTINGS = Settings.from_env()


class EmbeddingCache:
    """Thread-safe LRU map sentence -> embedding, with running hit/miss counters.

    Vectors are stored as tuples of floats, so a hit hands back exactly what was computed (no
    recomputation, no shared mutable state). ``capacity`` 0 disables caching (every lookup misses).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, tuple[float, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, sentence: str) -> tuple[float, ...] | None:
        """The cached vector for ``sentence`` (marking it most recently used), or None."""
        if self.capacity == 0:
            return None
        with self._lock:
            vector = self._entries.get(sentence)
            if vector is not None:
                self._entries.move_to_end(sentence)
            return vector

    def put(self, sentence: str, vector: tuple[float, ...]) -> None:
        """Store ``vector``, evicting the least recently used entries beyond capacity."""
        if self.capacity == 0:
            return
        with self._lock:
            self._entries[sentence] = vector
            self._entries.move_to_end(sentence)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def count(self, hits: int, misses: int) -> tuple[int, int]:
        """Add one request's hits and misses to the running totals; return the new totals."""
        with self._lock:
            self.hits += hits
            self.misses += misses
            return self.hits, self.misses


class Encoder(Protocol):
    """What ``EmbeddingModel`` needs of a model: SentenceTransformer's ``encode``."""

    def encode(self, sentences: list[str], **options: Any) -> Any: ...


class TracedEncoder:
    """A traced (or Neo-compiled) sentence-embedding module and its tokenizer, with the ``encode``
    of SentenceTransformer: fixed ``[batch, sequence]`` inputs, so texts are padded to the traced
    sequence length and sent in chunks of the traced batch size (the last chunk filled up)."""

    def __init__(self, module: Any, tokenizer: Tokenizer, metadata: Mapping[str, Any], device: Any) -> None:
        self.module = module
        self.tokenizer = tokenizer
        self.device = device
        self.input_names: list[str] = list(metadata["input_shapes"])
        self.batch, self.sequence = metadata["input_shapes"]["input_ids"]
        self.lower_case = bool(metadata.get("do_lower_case", False))
        pad_token = (tokenizer.padding or {}).get("pad_token") or "[PAD]"
        pad_id = tokenizer.token_to_id(pad_token)
        tokenizer.enable_truncation(max_length=int(metadata.get("max_seq_length") or self.sequence))
        tokenizer.enable_padding(
            length=self.sequence, pad_id=0 if pad_id is None else pad_id, pad_token=pad_token
        )

    def encode(self, sentences: list[str], **options: Any) -> Any:
        """Embeddings of ``sentences`` as a float32 array, L2-normalized (as the handler answers)."""
        import torch

        texts = [s.lower() for s in sentences] if self.lower_case else list(sentences)
        chunks = []
        for start in range(0, len(texts), self.batch):
            chunk = texts[start : start + self.batch]
            encodings = self.tokenizer.encode_batch(chunk + [chunk[-1]] * (self.batch - len(chunk)))
            columns = {
                "input_ids": [e.ids for e in encodings],
                "attention_mask": [e.attention_mask for e in encodings],
                "token_type_ids": [e.type_ids for e in encodings],
            }
            inputs = [
                torch.tensor(columns[name], dtype=torch.int64, device=self.device)
                for name in self.input_names
            ]
            with torch.no_grad():
                output = self.module(*inputs)
            chunks.append(output.float().cpu().numpy()[: len(chunk)])
        vectors = np.concatenate(chunks).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.clip(norms, 1e-12, None)


class OnnxEncoder:
    """An ONNX sentence-embedding graph (pooling and normalization inside) and its tokenizer, with the
    ``encode`` of SentenceTransformer: texts padded to the longest of each run of ``batch_size``."""

    def __init__(self, session: Any, tokenizer: Tokenizer, metadata: Mapping[str, Any]) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.input_names: list[str] = [item.name for item in session.get_inputs()]
        self.output_name: str = metadata.get("output", "sentence_embedding")
        self.batch_size = int(metadata.get("batch_size", ENCODE_BATCH_SIZE))
        self.lower_case = bool(metadata.get("do_lower_case", False))
        pad_token = (tokenizer.padding or {}).get("pad_token") or "[PAD]"
        pad_id = tokenizer.token_to_id(pad_token)
        tokenizer.enable_truncation(max_length=int(metadata["max_seq_length"]))
        # No length: tokenizer.json may carry a fixed padding length (all-MiniLM-L6-v2's says 128).
        tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad_token)

    def encode(self, sentences: list[str], **options: Any) -> Any:
        """Embeddings of ``sentences`` as a float32 array, L2-normalized; ``options`` (batch size,
        normalization) are SentenceTransformer's and ignored: the metadata decides the batch size."""
        texts = [s.lower() for s in sentences] if self.lower_case else list(sentences)
        rows = []
        for start in range(0, len(texts), self.batch_size):
            encodings = self.tokenizer.encode_batch(texts[start : start + self.batch_size])
            columns = {
                "input_ids": [e.ids for e in encodings],
                "attention_mask": [e.attention_mask for e in encodings],
                "token_type_ids": [e.type_ids for e in encodings],
            }
            feed = {name: np.asarray(columns[name], dtype=np.int64) for name in self.input_names}
            (output,) = self.session.run([self.output_name], feed)
            rows.append(np.asarray(output, dtype=np.float32))
        vectors = np.concatenate(rows)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


class EmbeddingModel:
    """What ``model_fn`` returns: the encoder, the settings and this model's cache."""

    def __init__(self, encoder: Encoder, settings: Settings) -> None:
        self.encoder = encoder
        self.settings = settings
        self.cache = EmbeddingCache(settings.cache_size)

    def embed(self, sentences: Sequence[str]) -> list[list[float]]:
        """L2-normalized embeddings of ``sentences``, in order; cached sentences are not recomputed.

        Misses are the distinct sentences this request had to encode; hits are the other inputs
        (served from the cache, or repeats within the request).
        """
        if self.cache.capacity == 0:
            computed = self._encode(list(sentences))
            self._count(hits=0, misses=len(computed))
            return [list(vector) for vector in computed]

        vectors: dict[str, tuple[float, ...]] = {}
        missing: dict[str, None] = {}  # ordered set
        for sentence in sentences:
            if sentence in vectors or sentence in missing:
                continue
            cached = self.cache.get(sentence)
            if cached is None:
                missing[sentence] = None
            else:
                vectors[sentence] = cached
        if missing:
            encoded = self._encode(list(missing))
            if len(encoded) != len(missing):
                raise RuntimeError(f"encoder gave {len(encoded)} vectors for {len(missing)} sentences")
            # No zip(strict=...): the Neo image may run a Python older than 3.10.
            for sentence, vector in zip(missing, encoded):  # noqa: B905
                vectors[sentence] = vector
                self.cache.put(sentence, vector)
        self._count(hits=len(sentences) - len(missing), misses=len(missing))
        return [list(vectors[sentence]) for sentence in sentences]

    def _encode(self, sentences: list[str]) -> list[tuple[float, ...]]:
        raw = self.encoder.encode(
            sentences,
            batch_size=ENCODE_BATCH_SIZE,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        rows: list[list[float]] = np.asarray(raw, dtype=np.float32).tolist()
        return [tuple(row) for row in rows]

    def _count(self, *, hits: int, misses: int) -> None:
        total_hits, total_misses = self.cache.count(hits, misses)
        logger.info(
            "cache hits=%d misses=%d (this request: hits=%d misses=%d) entries=%d/%d",
            total_hits,
            total_misses,
            hits,
            misses,
            len(self.cache),
            self.cache.capacity,
        )


def _reject(status: int, message: str) -> Exception:
    """A toolkit error the Transformer turns into an HTTP ``status`` response carrying ``message``."""
    error: Exception = GenericInferenceToolkitError(status, message)
    return error


def _media_type(header: str) -> tuple[str, dict[str, str]]:
    """``'Application/JSON; charset=UTF-8'`` -> ``('application/json', {'charset': 'utf-8'})``."""
    media, *params = header.split(";")
    parsed: dict[str, str] = {}
    for param in params:
        key, _, value = param.partition("=")
        parsed[key.strip().lower()] = value.strip().strip('"').lower()
    return media.strip().lower(), parsed


def model_fn(model_dir: str) -> EmbeddingModel:
    """Load the model from the artifact root (``model_dir``), offline: the ONNX graph or the traced
    module when the artifact has one (see the module docstring), else the SentenceTransformer on CPU."""
    root = Path(model_dir)
    traced = (root / NEO_METADATA_FILE).is_file() or (root / "model.pth").is_file()
    if (root / ONNX_METADATA_FILE).is_file() or (root / ONNX_MODEL_FILE).is_file():
        encoder, description = _load_onnx(root)
    elif traced:
        encoder, description = _load_traced(root)
    else:
        encoder, description = _load_sentence_transformer(root)
    logger.info(
        "loaded %s: %s max_batch_size=%d max_input_chars=%d cache_size=%d",
        model_dir,
        description,
        SETTINGS.max_batch_size,
        SETTINGS.max_input_chars,
        SETTINGS.cache_size,
    )
    return EmbeddingModel(encoder, SETTINGS)


def _load_sentence_transformer(root: Path) -> tuple[Encoder, str]:
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(str(root), device="cpu", local_files_only=True)
    encoder.eval()
    return encoder, f"dimension={encoder.get_embedding_dimension()}"


def _load_traced(root: Path) -> tuple[Encoder, str]:
    import torch
    from tokenizers import Tokenizer

    model_file = next((root / name for name in TRACED_MODEL_FILES if (root / name).is_file()), None)
    if model_file is None:
        raise RuntimeError(f"{NEO_METADATA_FILE} needs one of {', '.join(TRACED_MODEL_FILES)} beside it")
    metadata_path = root / NEO_METADATA_FILE
    if not metadata_path.is_file():
        raise RuntimeError(
            f"{model_file.name} needs {NEO_METADATA_FILE} beside it (input shapes, tokenizer): "
            "build the artifact with model_packaging's Neo input"
        )
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    try:
        import neopytorch  # type: ignore[import-not-found]  # only in SageMaker Neo's serving images
    except ImportError:
        pass
    else:
        neopytorch.config(model_dir=str(root), neo_runtime=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    module = torch.jit.load(str(model_file), map_location=device)
    module.eval()
    tokenizer = Tokenizer.from_file(str(root / metadata.get("tokenizer_file", "tokenizer.json")))
    encoder = TracedEncoder(module, tokenizer, metadata, device)
    dimension = encoder.encode(["warm-up"]).shape[1]  # the first call of a TorchScript module optimizes it
    return encoder, (
        f"traced {model_file.name} batch={encoder.batch} sequence={encoder.sequence} "
        f"device={device} dimension={dimension}"
    )


def _load_onnx(root: Path) -> tuple[Encoder, str]:
    import onnxruntime  # type: ignore[import-untyped]
    from tokenizers import Tokenizer

    metadata_path = root / ONNX_METADATA_FILE
    if not metadata_path.is_file():
        raise RuntimeError(
            f"{ONNX_MODEL_FILE} needs {ONNX_METADATA_FILE} beside it (tokenizer, sequence length, output): "
            "build the artifact with model_packaging's ONNX optimization"
        )
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    model_file = root / metadata.get("model_file", ONNX_MODEL_FILE)
    if not model_file.is_file():
        raise RuntimeError(f"{ONNX_METADATA_FILE} names {model_file.name}, which is not beside it")
    threads = _int_setting(os.environ, "ONNX_THREADS", 0, minimum=0)
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(
        str(model_file), sess_options=options, providers=["CPUExecutionProvider"]
    )
    tokenizer = Tokenizer.from_file(str(root / metadata.get("tokenizer_file", "tokenizer.json")))
    encoder = OnnxEncoder(session, tokenizer, metadata)
    dimension = encoder.encode(["warm-up"]).shape[1]
    return encoder, (
        f"onnx {model_file.name} method={metadata.get('method', 'unknown')} batch={encoder.batch_size} "
        f"threads={threads or 'default'} dimension={dimension}"
    )


def input_fn(request_body: str | bytes | bytearray, content_type: str | None) -> list[str]:
    """Validate a JSON request and return its sentences (a one-element list for a single string).

    Raises a 415 toolkit error for anything but ``application/json`` (UTF-8), and a 400 one for
    invalid JSON, a missing/empty ``inputs``, non-string or empty items, more than
    ``MAX_BATCH_SIZE`` sentences or a sentence longer than ``MAX_INPUT_CHARS`` characters.
    """
    media, params = _media_type(content_type or "")
    if media != JSON_CONTENT_TYPE:
        shown = repr(content_type) if content_type else "none"
        raise _reject(415, f"Unsupported Content-Type {shown}: send {JSON_CONTENT_TYPE}")
    if params.get("charset", "utf-8") not in ("utf-8", "utf8"):
        raise _reject(415, f"Unsupported charset {params['charset']!r}: send UTF-8 JSON")

    if isinstance(request_body, (bytes, bytearray)):  # a tuple, not X | Y: Neo images may run Python < 3.10
        try:
            text = bytes(request_body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _reject(400, f"Request body is not valid UTF-8: {exc}") from None
    else:
        text = request_body
    try:
        payload: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _reject(
            400, f"Request body is not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise _reject(400, "Request body is not valid JSON: nested too deeply") from None

    if not isinstance(payload, dict):
        raise _reject(
            400, f'Request body must be a JSON object {{"inputs": ...}}, got {type(payload).__name__}'
        )
    if "inputs" not in payload:
        raise _reject(400, 'Missing "inputs": send {"inputs": "a sentence"} or {"inputs": ["s1", "s2"]}')
    inputs = payload["inputs"]
    if isinstance(inputs, str):
        sentences = [inputs]
    elif isinstance(inputs, list):
        sentences = inputs
    else:
        raise _reject(400, f'"inputs" must be a string or a list of strings, got {_json_type(inputs)}')

    if not sentences:
        raise _reject(400, '"inputs" is empty: send at least one sentence')
    limits = SETTINGS
    if len(sentences) > limits.max_batch_size:
        raise _reject(
            400,
            f'Too many sentences in "inputs": {len(sentences)} > MAX_BATCH_SIZE={limits.max_batch_size}; '
            "split the request",
        )
    for index, sentence in enumerate(sentences):
        where = '"inputs"' if isinstance(inputs, str) else f'"inputs"[{index}]'
        if not isinstance(sentence, str):
            raise _reject(400, f"{where} must be a string, got {_json_type(sentence)}")
        if not sentence.strip():
            raise _reject(400, f"{where} is empty or only white space")
        if len(sentence) > limits.max_input_chars:
            raise _reject(
                400,
                f"{where} is too long: {len(sentence)} characters > MAX_INPUT_CHARS={limits.max_input_chars}",
            )
    return sentences


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def predict_fn(data: list[str], model: EmbeddingModel) -> list[list[float]]:
    """Embed a batch of sentences: one L2-normalized vector (list of floats) per sentence."""
    return model.embed(data)


def output_fn(prediction: list[list[float]], accept: str | None) -> str | tuple[str, str]:
    """Serialize to ``{"embeddings": [[...], ...]}`` as application/json; 406 for any other Accept.

    For a plain ``application/json`` Accept (what the toolkits substitute for a missing or ``*/*``
    one) only the body is returned and the toolkit uses the Accept value as Content-Type; this also
    suits the Hugging Face toolkit, which does not unpack tuples. For ranges such as ``application/*``
    the PyTorch toolkit gets ``(body, "application/json")`` so the Content-Type stays exact.
    """
    if not _accepts_json(accept):
        raise _reject(406, f"Unsupported Accept {accept!r}: this model answers {JSON_CONTENT_TYPE}")
    body = json.dumps({"embeddings": prediction}, separators=(",", ":"))
    if accept and "," not in accept and _media_type(accept)[0] == JSON_CONTENT_TYPE:
        return body
    return body, JSON_CONTENT_TYPE


def _accepts_json(accept: str | None) -> bool:
    if not accept or not accept.strip():
        return True
    for media_range in accept.split(","):
        media, params = _media_type(media_range)
        if media in (JSON_CONTENT_TYPE, "application/*", "*/*"):
            try:
                if float(params.get("q", "1")) > 0:
                    return True
            except ValueError:
                return True
    return False
