"""navec's Russian word vectors (250K words, 300 dimensions), read straight from the archive
the natasha package ships, kept small.

The archive holds ``meta.json``, ``vocab.bin`` (gzip: the word count, each word's frequency,
then the words, one a line, in the vectors' order) and ``pq.bin`` (product quantisation: for
each word one code per slice of the vector, 25 MB in all, then the slices' centroids). navec's
own loader keeps every word as a Python string in a dict (about 44 MB), the codes in memory,
a 25 MB table of similarities it never needs here and a 70 MB temporary on the way. Here the
words are byte strings in numpy arrays, one per length, sorted, and found by binary search
(about 6 MB), and a word's codes (100 bytes) are read from the file when it is looked up: the
operating system's cache holds the file, shared by every process, and no process keeps it. A
word's vector is navec's own, to the bit: the same centroids gathered the same way.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import tarfile
import threading
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np
import numpy.typing as npt

ARCHIVE = "data/emb/navec_news_v1_1B_250K_300d_100q.tar"
PROTOCOL = 1  # the archive format navec 0.10 writes and reads
GATHERED = 4096  # words whose letters are copied at a time while the vocabulary is read

Vector = npt.NDArray[np.float32]


class WordVectors:
    """Which words navec knows, and their vectors."""

    def __init__(
        self,
        words: dict[int, tuple[npt.NDArray[np.bytes_], npt.NDArray[np.int32]]],
        codes: tuple[BinaryIO, int],
        centroids: npt.NDArray[np.float32],
    ) -> None:
        self._words = words  # UTF-8 length -> (the words of that length sorted, their ids)
        # The archive, open for the process's life, and where the codes start: by word id,
        # the centroid of each slice of its vector.
        self._file, self._codes_at = codes
        self._reading = threading.Lock()  # one position in the file, whichever thread reads
        self._centroids = centroids  # slice, centroid -> that slice of a vector
        self._slices = np.arange(centroids.shape[0])
        self.dim = centroids.shape[0] * centroids.shape[2]

    @classmethod
    def load(cls, path: Path) -> WordVectors:
        with tarfile.open(path) as archive:
            meta = json.loads(_member(archive, "meta.json").read())
            if meta.get("protocol") != PROTOCOL:
                raise ValueError(f"word vectors of protocol {meta.get('protocol')} are not read")
            with gzip.GzipFile(fileobj=_member(archive, "vocab.bin")) as vocab:
                (count,) = np.frombuffer(vocab.read(4), np.uint32)
                vocab.seek(4 * int(count), io.SEEK_CUR)  # how often each word was seen: not needed
                text = vocab.read()
            quantised = archive.getmember("pq.bin")
            header = _member(archive, "pq.bin").read(16)
        vectors, dim, slices, centroids = (int(n) for n in np.frombuffer(header, np.uint32))
        if dim % slices or quantised.size != len(header) + vectors * slices + 4 * centroids * dim:
            raise ValueError("the word vectors' archive is not as navec writes it")
        codes_at = quantised.offset_data + len(header)
        file = path.open("rb", buffering=0)
        file.seek(codes_at + vectors * slices)
        table = np.frombuffer(file.read(4 * centroids * dim), np.float32)
        return cls(
            _words_by_length(text, vectors),
            (file, codes_at),
            table.reshape(slices, centroids, -1),
        )

    def id_of(self, word: str) -> int | None:
        """The word's row in navec, None for a word it does not know."""
        key = word.encode()
        found = self._words.get(len(key))
        if found is None:
            return None
        words, ids = found
        # The last of equal words, as navec's dict keeps it (the archive holds none twice).
        at = int(np.searchsorted(words, key, side="right")) - 1
        return int(ids[at]) if at >= 0 and words[at] == key else None

    def rows(self, ids: list[int]) -> Vector:
        """The vectors of these word ids, one a row."""
        slices = len(self._slices)
        with self._reading:
            codes = b"".join(self._read(self._codes_at + slices * i, slices) for i in ids)
        parts: Vector = self._centroids[
            self._slices, np.frombuffer(codes, np.uint8).reshape(len(ids), slices)
        ]
        return parts.reshape(len(ids), self.dim)

    def _read(self, at: int, size: int) -> bytes:
        self._file.seek(at)
        return self._file.read(size)

    def mean(self, words: Iterable[str]) -> Vector:
        """The mean vector of the words it knows (zeros without any), as navec's would be:
        ``np.mean([navec[w] for w in words if w in navec], axis=0)``."""
        ids = [found for word in words if (found := self.id_of(word)) is not None]
        if not ids:
            return np.zeros(self.dim, dtype=np.float32)
        mean: Vector = np.mean(self.rows(ids), axis=0)
        return mean


def _member(archive: tarfile.TarFile, name: str) -> IO[bytes]:
    found = archive.extractfile(name)
    if found is None:
        raise ValueError(f"{name} is missing from the word vectors' archive")
    return found


def _words_by_length(
    text: bytes, count: int
) -> dict[int, tuple[npt.NDArray[np.bytes_], npt.NDArray[np.int32]]]:
    """The words (UTF-8, one a line) grouped by length, each group as one sorted array of
    fixed-width byte strings, with each word's id (its line): no Python object per word.

    Its temporaries stay small (32-bit positions, 16-bit lengths, a group's letters gathered a
    few thousand words at a time): the heap that larger ones left behind, which glibc keeps in
    the process, had the load take 18 MiB instead of 11."""
    raw = np.frombuffer(text, np.uint8)
    ends = np.append(np.flatnonzero(raw == ord("\n")).astype(np.int32), np.int32(len(raw)))
    if len(ends) != count:
        raise ValueError("the word vectors' vocabulary does not match their count")
    starts = np.zeros_like(ends)
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts
    del ends
    if lengths.max() > np.iinfo(np.int16).max:
        raise ValueError("the word vectors' vocabulary has a word too long to be a word")
    lengths = lengths.astype(np.int16)
    found = {}
    for length in np.unique(lengths[lengths > 0]).tolist():
        ids = np.flatnonzero(lengths == length).astype(np.int32)
        words = np.empty(len(ids), dtype=f"S{length}")
        letters = words.view(np.uint8).reshape(len(ids), length)
        offsets = np.arange(length, dtype=np.int32)
        for at in range(0, len(ids), GATHERED):
            letters[at : at + GATHERED] = raw[starts[ids[at : at + GATHERED], None] + offsets]
        order = np.argsort(words, kind="stable")
        found[length] = (words[order], ids[order])
    return found


_loading = threading.Lock()


def word_vectors() -> WordVectors:
    """navec's vectors, loaded once per process: a thread that comes while they load waits
    for them."""
    with _loading:
        return _load()


@cache
def _load() -> WordVectors:
    return WordVectors.load(archive())


def archive() -> Path:
    """The archive inside the natasha package (which is not imported: only its data is
    needed). Nothing is downloaded."""
    spec = importlib.util.find_spec("natasha")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the natasha package (it ships the word vectors) is not installed")
    return Path(spec.submodule_search_locations[0]) / ARCHIVE
