"""A BERT sentence encoder (all-MiniLM-L6-v2) in numpy, to distill static word vectors from.

No torch: the weights are read with `safetensors`, the text split with HF `tokenizers`, and
the forward pass is plain matrix products. `Encoder.encode(texts)` returns the model's
sentence embeddings (mean of the last layer over the tokens, [CLS] and [SEP] included, as
sentence-transformers pools), before the final normalization.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy


@dataclass
class Layer:
    q: numpy.ndarray  # (H, H) transposed weights: x @ q
    q_b: numpy.ndarray
    k: numpy.ndarray
    k_b: numpy.ndarray
    v: numpy.ndarray
    v_b: numpy.ndarray
    out: numpy.ndarray
    out_b: numpy.ndarray
    ln1: tuple[numpy.ndarray, numpy.ndarray]
    up: numpy.ndarray
    up_b: numpy.ndarray
    down: numpy.ndarray
    down_b: numpy.ndarray
    ln2: tuple[numpy.ndarray, numpy.ndarray]


def layer_norm(x: numpy.ndarray, ln: tuple[numpy.ndarray, numpy.ndarray], eps: float):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / numpy.sqrt(var + eps) * ln[0] + ln[1]


def gelu(x: numpy.ndarray) -> numpy.ndarray:
    """BERT's exact GELU, x * Phi(x), with erf from a rational approximation (|error| < 1.5e-7:
    numpy has no erf, and scipy is not a dependency)."""
    z = numpy.abs(x) / numpy.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))  # fmt: skip
    erf = numpy.sign(x) * (1.0 - poly * numpy.exp(-z * z))
    return 0.5 * x * (1.0 + erf)


class Encoder:
    """The model in a folder holding config.json, model.safetensors and tokenizer.json."""

    def __init__(self, folder: Path, max_tokens: int = 32):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        w = load_file(str(folder / "model.safetensors"))
        w = {k.removeprefix("bert."): v for k, v in w.items()}
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.ln = _ln(w, "embeddings.LayerNorm")
        self.layers = [_layer(w, f"encoder.layer.{n}") for n in range(config["num_hidden_layers"])]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_tokens)

    @property
    def dims(self) -> int:
        return int(self.word.shape[1])

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str]) -> numpy.ndarray:
        """(len(texts), dims) mean-pooled embeddings, batched by token count."""
        ids = self.token_ids(texts)
        out = numpy.zeros((len(texts), self.dims), numpy.float32)
        by_length: dict[int, list[int]] = {}
        for n, row in enumerate(ids):
            by_length.setdefault(len(row), []).append(n)
        for rows in by_length.values():  # equal lengths: no padding, no mask
            for start in range(0, len(rows), 512):
                chunk = rows[start : start + 512]
                out[chunk] = self.forward(numpy.array([ids[n] for n in chunk])).mean(1)
        return out

    def forward(self, ids: numpy.ndarray) -> numpy.ndarray:
        """Last hidden states (B, S, H) of a batch of equal-length token id rows."""
        b, s = ids.shape
        x = self.word[ids] + self.position[:s] + self.token_type
        x = layer_norm(x, self.ln, self.eps)
        h = x.shape[-1]
        d = h // self.heads
        for lay in self.layers:
            q = (x @ lay.q + lay.q_b).reshape(b, s, self.heads, d).transpose(0, 2, 1, 3)
            k = (x @ lay.k + lay.k_b).reshape(b, s, self.heads, d).transpose(0, 2, 3, 1)
            v = (x @ lay.v + lay.v_b).reshape(b, s, self.heads, d).transpose(0, 2, 1, 3)
            scores = (q @ k) / numpy.sqrt(d)
            scores = numpy.exp(scores - scores.max(-1, keepdims=True))
            attn = (scores / scores.sum(-1, keepdims=True)) @ v
            attn = attn.transpose(0, 2, 1, 3).reshape(b, s, h)
            x = layer_norm(x + attn @ lay.out + lay.out_b, lay.ln1, self.eps)
            ff = gelu(x @ lay.up + lay.up_b) @ lay.down + lay.down_b
            x = layer_norm(x + ff, lay.ln2, self.eps)
        return x


def _ln(w: dict, name: str) -> tuple[numpy.ndarray, numpy.ndarray]:
    return w[f"{name}.weight"], w[f"{name}.bias"]


def _layer(w: dict, p: str) -> Layer:
    def lin(name: str) -> tuple[numpy.ndarray, numpy.ndarray]:
        return numpy.ascontiguousarray(w[f"{p}.{name}.weight"].T), w[f"{p}.{name}.bias"]

    q, k, v = lin("attention.self.query"), lin("attention.self.key"), lin("attention.self.value")
    out, up, down = lin("attention.output.dense"), lin("intermediate.dense"), lin("output.dense")
    return Layer(
        *q, *k, *v, *out, _ln(w, f"{p}.attention.output.LayerNorm"), *up, *down,
        _ln(w, f"{p}.output.LayerNorm"),
    )  # fmt: skip
