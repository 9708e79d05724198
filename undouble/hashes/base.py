"""What every hash method shares: the :class:`HashBatch` result, input conversion,
the hashing thread pool, and conversions between packed words, bits and hex.

Bit layout (as ImageHash's hex strings): the boolean grid flattened row-major,
bit ``[0, 0]`` is the most significant bit of word 0; unused low bits of the
last word are zero.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numba
import numpy as np

from .._kernels.bits import pack_rows, unpack_rows
from .._kernels.hashes import grey_stack
from ..resample import resize_tables


@dataclass(frozen=True)
class HashBatch:
    """Hashes of N images.

    Attributes
    ----------
    packed : np.ndarray
        uint64, ``(N, words)``. For multi-segment hashes (crop-resistant),
        ``(N, max_segments * words_per_segment)``, zero-padded.
    nbits : int
        Bits of one hash (of one segment for multi-segment hashes).
    counts : np.ndarray or None
        Segments per image (crop-resistant only), int64 ``(N,)``.
    shape : tuple of int or None
        Shape of the boolean grid of one hash (for display), e.g. ``(8, 8)``.
    """

    packed: np.ndarray
    nbits: int
    counts: np.ndarray | None = None
    shape: tuple[int, int] | None = None

    @property
    def words_per_segment(self) -> int:
        return (self.nbits + 63) // 64

    def __len__(self) -> int:
        return self.packed.shape[0]

    def hex(self, i: int) -> str:
        """ImageHash-style string of image ``i`` (segments joined by commas)."""
        row = self.packed[i]
        if self.counts is None:
            return to_hex(row, self.nbits)
        w = self.words_per_segment
        return ",".join(to_hex(row[s * w:(s + 1) * w], self.nbits) for s in range(int(self.counts[i])))


def _pil_to_array(image: Any) -> np.ndarray:
    mode = image.mode
    if mode in ("L", "RGB", "RGBA"):
        return np.asarray(image)
    if mode in ("1", "I", "I;16", "I;16B", "I;16L", "F"):
        return np.asarray(image.convert("L"))
    has_alpha = mode in ("LA", "La", "PA", "RGBa") or "transparency" in image.info
    return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))


def as_image_array(image: Any) -> np.ndarray:
    """One image as a uint8 array: grey ``(H, W)`` or colour ``(H, W, C)``.

    Accepts numpy arrays (uint8; bool is mapped to 0/255) and PIL images.
    """
    if not isinstance(image, np.ndarray) and hasattr(image, "mode") and hasattr(image, "convert"):
        image = _pil_to_array(image)
    arr = np.asarray(image)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        raise TypeError(f"images must be uint8 arrays (got dtype {arr.dtype}); scale them to 0..255 first")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] == 2:  # grey + alpha: alpha is ignored
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ValueError(f"an image must be H x W (grey) or H x W x 3/4 (RGB/RGBA), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"empty image of shape {arr.shape}")
    return arr


def as_image_list(images: Any) -> Sequence[np.ndarray]:
    """Images as a sequence of uint8 arrays (see :func:`as_image_array`).

    A uint8 stack ``N x H x W`` or ``N x H x W x 3/4`` is returned as it is
    (no copy, no per-image work); anything else is converted image by image.
    """
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4):
            raise ValueError(
                f"an image stack must be N x H x W or N x H x W x C, got shape {images.shape}; "
                "use hash_image() for a single image")
        if (images.dtype == np.uint8 and (images.ndim == 3 or images.shape[3] in (3, 4))
                and images.shape[1] > 0 and images.shape[2] > 0):
            return images
    return [as_image_array(img) for img in images]


def shape_groups(images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group images of equal shape into stacks: ``[(indices, stack), ...]``.

    A stack (``np.ndarray``) is one group, used without copying when it is
    contiguous and writable.
    """
    if isinstance(images, np.ndarray):
        stack = images if images.flags.writeable else images.copy()
        return [(np.arange(len(images), dtype=np.int64), np.ascontiguousarray(stack))] if len(images) else []
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, img in enumerate(images):
        by_shape.setdefault(img.shape, []).append(i)
    groups = []
    for idx in by_shape.values():
        stack = np.stack([images[i] for i in idx]) if len(idx) > 1 else images[idx[0]][None]
        if not stack.flags.writeable:  # e.g. np.asarray(PIL image); Numba compiles read-only arrays apart
            stack = stack.copy()
        groups.append((np.asarray(idx, dtype=np.int64), np.ascontiguousarray(stack)))
    return groups


def to_grey_stack(stack: np.ndarray) -> np.ndarray:
    """Pillow ``convert('L')`` of a stack (grey stacks are returned as is)."""
    if stack.ndim == 3:
        return stack
    return run_in_threads(grey_stack, np.ascontiguousarray(stack))


def grey_groups(images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Like :func:`shape_groups`, converted to grey (Pillow "L")."""
    return [(idx, to_grey_stack(stack)) for idx, stack in shape_groups(images)]


def as_channel_stack(stack: np.ndarray) -> np.ndarray:
    """A stack as ``N x H x W x C``: grey ``N x H x W`` gets a trailing axis of 1 (a view).

    The fused kernels (grey conversion inside) take this one layout, so that
    each compiles once for grey and colour stacks.
    """
    return stack[:, :, :, None] if stack.ndim == 3 else stack


def channel_groups(images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Like :func:`shape_groups`, every stack ``N x H x W x C`` (see :func:`as_channel_stack`)."""
    return [(idx, as_channel_stack(stack)) for idx, stack in shape_groups(images)]


def _check_hash_size(hash_size: int, method: str) -> int:
    if int(hash_size) != hash_size or hash_size < 2:
        raise ValueError(f"{method}: hash_size must be an integer >= 2, got {hash_size!r}")
    return int(hash_size)


MIN_IMAGES_PER_THREAD = 16
"""Smaller batches run on the calling thread: handing work to a thread costs more."""


_POOL: ThreadPoolExecutor | None = None


_POOL_KEY: tuple[int, int] | None = None  # (process id, workers) the pool was made for


_POOL_LOCK = threading.Lock()


def _hash_pool(workers: int) -> ThreadPoolExecutor:
    """The shared pool of hashing threads, made once per process and thread count.

    Starting a pool per call costs more than the hashing of a small batch.
    A pool inherited through ``fork`` has no threads behind it, so the process id is part of the key. A pool that is
    replaced is not shut down (a call may still be using it): once nothing
    refers to it, its idle threads exit.
    """
    global _POOL, _POOL_KEY
    key = (os.getpid(), workers)
    with _POOL_LOCK:
        if _POOL is None or _POOL_KEY != key:
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="undouble-hash")
            _POOL_KEY = key
        return _POOL


def run_in_threads(kernel: Callable[..., np.ndarray], stack: np.ndarray, *args: Any) -> np.ndarray:
    """Run a serial batch kernel over chunks of ``stack`` on Numba's thread count.

    ``kernel(stack, *args)`` must return one row per image and release the
    GIL (``nogil=True``). Chunks are contiguous slices of the stack, so every
    call has the same Numba type. ``numba.set_num_threads`` (or
    ``NUMBA_NUM_THREADS``) sets the number of threads; batches of fewer than
    ``MIN_IMAGES_PER_THREAD`` images per thread use fewer threads. The
    threads are kept between calls (:func:`_hash_pool`).
    """
    n = stack.shape[0]
    workers = min(numba.get_num_threads(), n // MIN_IMAGES_PER_THREAD)
    if workers <= 1:
        return kernel(stack, *args)
    edges = np.linspace(0, n, workers + 1).astype(np.int64)
    pool = _hash_pool(workers)
    parts = list(pool.map(lambda lo_hi: kernel(stack[lo_hi[0]:lo_hi[1]], *args), zip(edges[:-1], edges[1:])))
    return np.concatenate(parts)


def _batch_from_grids(images: Sequence[np.ndarray], nbits: int, shape: tuple[int, int],
                      kernel: Callable[[np.ndarray], np.ndarray]) -> HashBatch:
    """Run ``kernel(stack N x H x W x C) -> bool (n, nbits)`` per shape group and pack."""
    bits = np.zeros((len(images), nbits), dtype=np.bool_)
    for idx, stack in channel_groups(images):
        bits[idx] = kernel(stack)
    return HashBatch(pack_rows(bits), nbits, None, shape)


def read_only_tables(tables: tuple) -> tuple:
    """``resize_tables`` output with every array read-only.

    The cached Lanczos tables are read-only but the empty ones (skipped
    passes) are not; Numba types the two differently, so mixing them would
    compile up to four specialisations of each kernel.
    """
    out = []
    for t in tables:
        if isinstance(t, np.ndarray) and t.flags.writeable:
            t = t.view()
            t.flags.writeable = False
        out.append(t)
    return tuple(out)


def _resized_kernel(kernel, out_w: int, out_h: int, *args: Any):
    """``stack -> kernel(stack, *args, *tables)`` with the tables resizing to ``out_w x out_h``."""
    def run(stack: np.ndarray) -> np.ndarray:
        tables = resize_tables((stack.shape[2], stack.shape[1]), (out_w, out_h))
        return run_in_threads(kernel, stack, *args, *read_only_tables(tables))
    return run


def to_hex(packed: np.ndarray, nbits: int) -> str:
    """ImageHash-style hex string of one packed hash.

    Parameters
    ----------
    packed : np.ndarray
        uint64 words of one hash (``ceil(nbits / 64)`` of them).
    nbits : int
        Number of bits of the hash.
    """
    words = (nbits + 63) // 64
    value = 0
    for w in np.asarray(packed, dtype=np.uint64)[:words]:
        value = (value << 64) | int(w)
    value >>= 64 * words - nbits
    return format(value, "0{}x".format((nbits + 3) // 4))


def from_hex(text: str, nbits: int | None = None) -> np.ndarray:
    """Packed uint64 words of an ImageHash-style hex string.

    ``nbits`` defaults to ``4 * len(text)``; give it for hashes whose bit
    count is not a multiple of 4 (e.g. 42 for colorhash with binbits 3).
    """
    text = text.strip().lower()
    if nbits is None:
        nbits = 4 * len(text)
    value = int(text, 16)
    if value >> nbits:
        raise ValueError(f"hex string {text!r} has more than {nbits} bits")
    words = (nbits + 63) // 64
    value <<= 64 * words - nbits
    out = np.zeros(words, dtype=np.uint64)
    for w in range(words - 1, -1, -1):
        out[w] = value & 0xFFFFFFFFFFFFFFFF
        value >>= 64
    return out


def to_bits(packed: np.ndarray, nbits: int) -> np.ndarray:
    """Boolean bits ``(N, nbits)`` of packed hashes ``(N, words)`` (1-D in, 1-D out)."""
    arr = np.ascontiguousarray(packed, dtype=np.uint64)
    if arr.ndim == 1:
        return unpack_rows(arr[None], nbits)[0]
    return unpack_rows(arr, nbits)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack boolean bits ``(N, nbits)`` into uint64 words ``(N, words)``."""
    arr = np.ascontiguousarray(bits, dtype=np.bool_)
    if arr.ndim == 1:
        return pack_rows(arr[None])[0]
    return pack_rows(arr)
