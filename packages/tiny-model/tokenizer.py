"""CLIP-format byte-level BPE: learning a vocabulary from the shapes-world words, writing the
Hugging Face files, and encoding exactly as the engine's ClipTokenizer (HF CLIPTokenizerFast) does."""
import json
import os
import re
import unicodedata
from collections import Counter

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
MAX_LEN = 77
# CLIP's pre-token pattern; [^\W\d_] is "a Unicode letter" in Python's re, \d stands in for \p{N}.
PRE_TOKEN = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+",
                       re.IGNORECASE | re.UNICODE)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


B2U = bytes_to_unicode()


def learn_bpe(words, max_merges=2000):
    """Learns merges until every word is one symbol (or max_merges). Ties broken deterministically."""
    vocab_words = Counter()
    for w in words:
        symbols = [B2U[b] for b in w.encode("utf-8")]
        symbols[-1] = symbols[-1] + "</w>"
        vocab_words[tuple(symbols)] += 1
    merges = []
    for _ in range(max_merges):
        pairs = Counter()
        for word, freq in vocab_words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += freq
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        merged = Counter()
        for word, freq in vocab_words.items():
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += freq
        vocab_words = merged
    base = list(B2U.values())
    tokens = base + [t + "</w>" for t in base] + ["".join(m) for m in merges] + [BOS, EOS]
    vocab = {}
    for t in tokens:
        vocab.setdefault(t, len(vocab))
    return vocab, merges


def write_files(directory, vocab, merges):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    tok = lambda c: {"content": c, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
    with open(os.path.join(directory, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": tok(BOS), "eos_token": tok(EOS), "unk_token": tok(EOS), "pad_token": EOS}, f, indent=2)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": MAX_LEN, "do_lower_case": True, "tokenizer_class": "CLIPTokenizer",
                   "bos_token": BOS, "eos_token": EOS, "pad_token": EOS, "unk_token": EOS}, f, indent=2)


class Tokenizer:
    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.ranks = {(a, b): i for i, (a, b) in enumerate(merges)}
        self.bos = vocab[BOS]
        self.eos = vocab[EOS]
        self.pad = vocab[EOS]
        self.cache = {}

    @classmethod
    def load(cls, directory):
        with open(os.path.join(directory, "vocab.json"), encoding="utf-8") as f:
            vocab = json.load(f)
        with open(os.path.join(directory, "merges.txt"), encoding="utf-8") as f:
            lines = [l.rstrip("\r\n") for l in f]
        merges = [tuple(l.split(" ")) for i, l in enumerate(lines) if l and not (i == 0 and l.startswith("#version"))]
        return cls(vocab, merges)

    @staticmethod
    def normalize(text):
        text = unicodedata.normalize("NFC", text)
        text = "".join((" " if c.isspace() else "") if unicodedata.category(c) in ("Cc", "Cf") or c == "\ufffd" else c
                       for c in text)
        return re.sub(r"\s+", " ", text).strip().lower()

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            best, best_rank = -1, None
            for i in range(len(word) - 1):
                r = self.ranks.get((word[i], word[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best < 0:
                break
            first, second = word[best], word[best + 1]
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self.cache[token] = word
        return word

    def tokenize(self, text):
        out = []
        for m in PRE_TOKEN.finditer(self.normalize(text)):
            piece = "".join(B2U[b] for b in m.group(0).encode("utf-8"))
            out.extend(self.bpe(piece))
        return out

    def encode(self, text, length=MAX_LEN):
        pieces = self.tokenize(text)[: MAX_LEN - 2]
        ids = [self.bos] + [self.vocab.get(p, self.eos) for p in pieces] + [self.eos]
        ids = ids[:length] if len(ids) > length else ids + [self.pad] * (length - len(ids))
        return ids
