"""The text tokenizer: Qwen2 byte-level BPE plus the Step-Audio special tokens; load, train, save."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import tokenizers
from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers, processors, trainers

from mgrd.chat.special import (AUDIO_END, AUDIO_PATCH, AUDIO_START, BOT, ENDOFTEXT, EOT, SPECIAL_TOKENS,
                               SpecialTokenIds)
from mgrd.io import write_json_atomic, write_text_atomic

# Qwen2's pre-tokenizer split: contractions, letter runs (with one leading non-letter), single
# digits, punctuation runs, newlines, other whitespace.
QWEN2_SPLIT_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                       r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GIL_FREE_CHARS = 4096   # texts this long are encoded with the GIL released (shorter ones take microseconds)
DEFAULT_MODEL_MAX_LENGTH = 65536  # max_position_embeddings of Step-Audio-R1 / R1.1

_SPECIAL_FIELDS = {"bot": BOT, "eot": EOT, "endoftext": ENDOFTEXT, "audio_start": AUDIO_START,
                   "audio_end": AUDIO_END, "audio_patch": AUDIO_PATCH}


class Tokenizer:
    """A `tokenizers.Tokenizer` that has the Step-Audio special tokens, with their ids at hand.

    `vocab_size` is one more than the largest token id (added tokens included); a model's
    embedding table may have more rows (158720 in the released checkpoints).
    """

    def __init__(self, backend: tokenizers.Tokenizer, *, model_max_length: int = DEFAULT_MODEL_MAX_LENGTH):
        self.backend = backend
        self._plain: tokenizers.Tokenizer | None = None   # the same tokenizer, special tokens as text
        self.model_max_length = int(model_max_length)
        self.special = _special_ids(backend)
        # Every special added token's text, longest first (the control tokens a text can spell).
        self.special_strings = tuple(sorted({t.content for t in backend.get_added_tokens_decoder().values()
                                             if t.special}, key=lambda c: (-len(c), c)))
        self.vocab_size = max(backend.get_vocab(with_added_tokens=True).values()) + 1

    @classmethod
    def from_dir(cls, path: str | os.PathLike) -> Tokenizer:
        """Load `tokenizer.json`, else Qwen2-style `vocab.json` + `merges.txt` + added tokens.

        Only data files are read; no code from the directory is ever run.
        """
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"tokenizer directory {path} does not exist")
        config = _read_json(path / "tokenizer_config.json") if (path / "tokenizer_config.json").is_file() else {}
        if (path / "tokenizer.json").is_file():
            backend = _load_tokenizer_json(path / "tokenizer.json")
        elif (path / "vocab.json").is_file() and (path / "merges.txt").is_file():
            backend = _build_from_vocab_merges(path, config)
        else:
            raise FileNotFoundError(f"{path} has no tokenizer: expected tokenizer.json, or vocab.json + merges.txt "
                                    "(with added_tokens.json / tokenizer_config.json for the added tokens)")
        max_len = config.get("model_max_length")
        return cls(backend, model_max_length=max_len if isinstance(max_len, int) else DEFAULT_MODEL_MAX_LENGTH)

    def encode(self, text: str, *, special_tokens: bool = True) -> list[int]:
        """Token ids of `text`. No BOS is added.

        With `special_tokens` (the default) special-token strings inside `text` become their ids;
        without, they are encoded as the plain text they spell (for untrusted text). The GIL is
        released while encoding a long text, so that it does not stall the other threads.
        """
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}")
        backend = self.backend if special_tokens else self._plain_backend()
        if len(text) < GIL_FREE_CHARS:
            return backend.encode(text, add_special_tokens=False).ids
        # encode_batch gives the same ids as encode but runs without the GIL.
        return backend.encode_batch([text], add_special_tokens=False)[0].ids

    def _plain_backend(self) -> tokenizers.Tokenizer:
        if self._plain is None:
            plain = tokenizers.Tokenizer.from_str(self.backend.to_str())
            plain.encode_special_tokens = True
            self._plain = plain
        return self._plain

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
        """The text of `ids`; special tokens are written out unless `skip_special_tokens`."""
        return self.backend.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def token_to_id(self, token: str) -> int:
        """The id of one token string (a vocabulary entry or an added token)."""
        token_id = self.backend.token_to_id(token)
        if token_id is None:
            raise ValueError(f"token {token!r} is not in the vocabulary")
        return token_id

    def save(self, path: str | os.PathLike) -> None:
        """Write `tokenizer.json`, `tokenizer_config.json` and `special_tokens_map.json` into `path`.

        The directory loads with `Tokenizer.from_dir` and with transformers'
        `AutoTokenizer.from_pretrained` (as a Qwen2 tokenizer) and gives the same ids in both.
        """
        path = Path(path)
        added = self.backend.get_added_tokens_decoder()
        extra = [t.content for _, t in sorted(added.items()) if t.special and t.content not in (EOT, ENDOFTEXT)]
        write_text_atomic(path / "tokenizer.json", self.backend.to_str())
        write_json_atomic(path / "tokenizer_config.json", {
            "tokenizer_class": "Qwen2Tokenizer",
            "added_tokens_decoder": {str(i): _added_token_dict(t) for i, t in sorted(added.items())},
            "additional_special_tokens": extra,
            "bos_token": None,
            "eos_token": EOT,
            "pad_token": ENDOFTEXT,
            "unk_token": None,
            "model_max_length": self.model_max_length,
            "add_prefix_space": False,
            "clean_up_tokenization_spaces": False,
            "errors": "replace",
            "split_special_tokens": False,
        })
        write_json_atomic(path / "special_tokens_map.json",
                          {"additional_special_tokens": extra, "eos_token": EOT, "pad_token": ENDOFTEXT})


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096, *, min_frequency: int = 2) -> Tokenizer:
    """Train a Qwen2-style byte-level BPE on `texts` (deterministic for the same texts).

    `vocab_size` counts everything: the 256 byte tokens, the learned merges and the six special
    tokens, which come last, after the learned vocabulary (as in Qwen2), in the order
    `<|endoftext|>`, `<|BOT|>`, `<|EOT|>`, `<audio_start>`, `<audio_end>`, `<audio_patch>`.
    `decode(encode(s)) == s` for every NFC-normalised string (input is NFC-normalised, as in Qwen2).
    """
    smallest = len(pre_tokenizers.ByteLevel.alphabet()) + len(SPECIAL_TOKENS)
    if vocab_size < smallest:
        raise ValueError(f"vocab_size must be at least {smallest} (256 bytes + {len(SPECIAL_TOKENS)} special "
                         f"tokens), got {vocab_size}")
    if min_frequency < 1:
        raise ValueError(f"min_frequency must be >= 1, got {min_frequency}")
    backend = tokenizers.Tokenizer(models.BPE(fuse_unk=False, byte_fallback=False))
    _set_qwen2_pipeline(backend)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(SPECIAL_TOKENS), min_frequency=min_frequency,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[],
                                  show_progress=False)
    backend.train_from_iterator(texts, trainer)
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    return Tokenizer(backend)


@dataclass(frozen=True)
class _Added:
    content: str
    special: bool
    lstrip: bool = False
    rstrip: bool = False
    normalized: bool = False
    single_word: bool = False


def _set_qwen2_pipeline(backend: tokenizers.Tokenizer) -> None:
    byte_level = dict(add_prefix_space=False, trim_offsets=False, use_regex=False)
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(**byte_level)])
    backend.decoder = decoders.ByteLevel(**byte_level)
    backend.post_processor = processors.ByteLevel(**byte_level)


def _special_ids(backend: tokenizers.Tokenizer) -> SpecialTokenIds:
    ids = {field: backend.token_to_id(name) for field, name in _SPECIAL_FIELDS.items()}
    missing = [_SPECIAL_FIELDS[f] for f, i in ids.items() if i is None]
    if missing:
        raise ValueError(f"tokenizer lacks the special tokens {', '.join(missing)}; a Step-Audio tokenizer needs "
                         f"all of {', '.join(_SPECIAL_FIELDS.values())}")
    return SpecialTokenIds(**ids)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def _load_tokenizer_json(path: Path) -> tokenizers.Tokenizer:
    text = path.read_text(encoding="utf-8")
    backend = tokenizers.Tokenizer.from_str(text)
    declared = {t["content"]: t["id"] for t in json.loads(text).get("added_tokens", [])}
    if all(backend.token_to_id(c) == i for c, i in declared.items()):
        return backend
    # `tokenizers` numbers added tokens consecutively after the model vocabulary; a file whose
    # added ids leave gaps keeps them only when the tokens are also model-vocabulary entries.
    data = json.loads(text)
    vocab = data.get("model", {}).get("vocab")
    if not isinstance(vocab, dict):
        raise ValueError(f"{path}: added-token ids do not match the file and the model has no vocabulary to fix it")
    vocab.update(declared)
    backend = tokenizers.Tokenizer.from_str(json.dumps(data))
    _check_ids(backend, declared, path)
    return backend


def _build_from_vocab_merges(path: Path, config: dict) -> tokenizers.Tokenizer:
    vocab = _read_json(path / "vocab.json")
    merges = _read_merges(path / "merges.txt")
    added = _added_tokens(path, config)
    for token_id, tok in added.items():
        if vocab.get(tok.content, token_id) != token_id:
            raise ValueError(f"{path}: added token {tok.content!r} has id {token_id} but vocab.json gives "
                             f"{vocab[tok.content]}")
        # In the model vocabulary the token keeps its own id even where the added ids leave gaps.
        vocab[tok.content] = token_id
    backend = tokenizers.Tokenizer(models.BPE(vocab, merges, fuse_unk=False, byte_fallback=False))
    _set_qwen2_pipeline(backend)
    for token_id, tok in sorted(added.items()):
        token = AddedToken(tok.content, special=tok.special, lstrip=tok.lstrip, rstrip=tok.rstrip,
                           normalized=tok.normalized, single_word=tok.single_word)
        (backend.add_special_tokens if tok.special else backend.add_tokens)([token])
    _check_ids(backend, {t.content: i for i, t in added.items()}, path)
    return backend


def _read_merges(path: Path) -> list[tuple[str, str]]:
    merges = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if not line or (lineno == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise ValueError(f"{path}:{lineno}: a merge is two tokens separated by one space, got {line!r}")
        merges.append((parts[0], parts[1]))
    return merges


def _added_tokens(path: Path, config: dict) -> dict[int, _Added]:
    """Added tokens by id, from `added_tokens.json` and `tokenizer_config.json`'s `added_tokens_decoder`."""
    special_names = set(_SPECIAL_FIELDS.values()) | _special_map_names(path, config)
    added: dict[int, _Added] = {}
    if (path / "added_tokens.json").is_file():
        for content, token_id in _read_json(path / "added_tokens.json").items():
            added[int(token_id)] = _Added(content, special=content in special_names)
    for token_id, entry in config.get("added_tokens_decoder", {}).items():
        content = entry["content"]
        if added.get(int(token_id), _Added(content, False)).content != content:
            raise ValueError(f"{path}: id {token_id} is {added[int(token_id)].content!r} in added_tokens.json but "
                             f"{content!r} in tokenizer_config.json")
        added[int(token_id)] = _Added(content, special=bool(entry.get("special", content in special_names)),
                                      lstrip=bool(entry.get("lstrip", False)), rstrip=bool(entry.get("rstrip", False)),
                                      normalized=bool(entry.get("normalized", False)),
                                      single_word=bool(entry.get("single_word", False)))
    by_content: dict[str, int] = {}
    for token_id, tok in added.items():
        if by_content.setdefault(tok.content, token_id) != token_id:
            raise ValueError(f"{path}: added token {tok.content!r} has two ids, "
                             f"{by_content[tok.content]} and {token_id}")
    return added


def _special_map_names(path: Path, config: dict) -> set[str]:
    maps = [config]
    if (path / "special_tokens_map.json").is_file():
        maps.append(_read_json(path / "special_tokens_map.json"))
    names: set[str] = set()
    for m in maps:
        values = [m.get(k) for k in ("bos_token", "eos_token", "pad_token", "unk_token")]
        values += list(m.get("additional_special_tokens") or [])
        for v in values:
            if isinstance(v, dict):
                v = v.get("content")
            if isinstance(v, str):
                names.add(v)
    return names


def _check_ids(backend: tokenizers.Tokenizer, declared: dict[str, int], path: Path) -> None:
    wrong = [f"{c!r} (file {i}, got {backend.token_to_id(c)})" for c, i in declared.items()
             if backend.token_to_id(c) != i]
    if wrong:
        raise ValueError(f"{path}: added tokens did not keep their ids: {', '.join(wrong[:5])}")


def _added_token_dict(token: AddedToken) -> dict:
    return {"content": token.content, "lstrip": token.lstrip, "normalized": token.normalized,
            "rstrip": token.rstrip, "single_word": token.single_word, "special": token.special}
