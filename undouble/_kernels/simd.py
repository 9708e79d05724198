"""Eight-lane int32 and four-lane float64 vectors for Numba kernels, as plain LLVM vector IR.

Numba has no vector type, and LLVM's auto-vectoriser does poorly on the
loops that matter most here: it will not keep a block of sums in registers
across a loop over taps (each tap reloads and stores the sums), and it
splits RGB pixels into channels with three times the byte shuffles needed.
This module gives kernels an ``int32 x 8`` value type (``I32x8``, an LLVM
``<8 x i32>``) and a few operations on it, so that a kernel says which
values are vectors and LLVM keeps them in registers.

The IR is target-independent: LLVM lowers ``<8 x i32>`` to one AVX2
register, or to two SSE2 registers on CPUs without AVX2. The exceptions are
the grey conversions and the multiply-add of 16-bit pairs, which use
``vpmaddwd`` when the compilation target has AVX2 and plain multiplies
otherwise (``_has_avx2``: Numba's own target features, so a cache built for a
generic CPU stays generic). Integer vector arithmetic wraps modulo 2**32
exactly as Numba's ``np.int32`` arithmetic does, so kernels built from these
give the same integers as the scalar code they replace; the float64
operations round as numpy does (``fmul``, ``fadd``) or may fuse
(``fmuladd``). ``tests/test_simd.py`` checks each operation against numpy.

Every function here is a Numba intrinsic: callable only from jitted code.
Indices are element indices into 1-D, C-contiguous arrays and are not
bounds-checked: the caller guarantees ``index + 8 <= arr.size`` (28 bytes
for ``vgrey_rgb``, 52 for ``vgrey_pairs``).
"""
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, models, register_model

__all__ = ["F64x4", "I32x8", "LANES", "fadd", "fload", "fload_even", "fload_odd", "fmul", "fmuladd", "fsplat", "fstore",
           "fstore_interleaved", "transpose8", "vgrey_pairs", "vgrey_rgb", "vload", "vmadd", "vmadd_pairs", "vround_clip8",
           "vsplat", "vstore", "vstore_u16"]

LANES = 8
_I32 = ir.IntType(32)
_I8 = ir.IntType(8)
_VEC = ir.VectorType(_I32, LANES)


_F64 = ir.DoubleType()
_FVEC = ir.VectorType(_F64, 4)
_LLVM_TYPES = {"I32x8": _VEC, "F64x4": _FVEC}


class VectorType(types.Type):
    """Numba type of an LLVM vector value: ``I32x8`` (``<8 x i32>``) or ``F64x4`` (``<4 x double>``)."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name)


I32x8 = VectorType("I32x8")
F64x4 = VectorType("F64x4")


@register_model(VectorType)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _LLVM_TYPES[fe_type.name])


def _element_pointer(context, builder, arrty, arr, index):
    """Pointer to ``arr[index]`` of a 1-D array (no bounds check)."""
    ary = context.make_array(arrty)(context, builder, arr)
    return builder.gep(ary.data, [index])


def _load_row(context, builder, arrty, arr, index, vector=_VEC, align=4):
    ptr = _element_pointer(context, builder, arrty, arr, index)
    return builder.load(builder.bitcast(ptr, vector.as_pointer()), align=align)


def _store_row(context, builder, arrty, arr, index, vec, align=4):
    ptr = _element_pointer(context, builder, arrty, arr, index)
    builder.store(vec, builder.bitcast(ptr, vec.type.as_pointer()), align=align)


def _check_array(arr, dtype) -> None:
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype == dtype and arr.layout == "C"):
        raise TypeError(f"expected a 1-D C-contiguous {dtype} array, got {arr}")


def _check_int32_array(arr) -> None:
    _check_array(arr, types.int32)


@intrinsic
def vload(typingctx, arr, index):
    """``arr[index:index + 8]`` of a 1-D int32 array, as a vector (unaligned load)."""
    _check_int32_array(arr)
    sig = I32x8(arr, types.intp)

    def codegen(context, builder, signature, args):
        index_value = context.cast(builder, args[1], signature.args[1], types.intp)
        return _load_row(context, builder, signature.args[0], args[0], index_value)

    return sig, codegen


@intrinsic
def vstore(typingctx, arr, index, vec):
    """Write ``vec`` to ``arr[index:index + 8]`` of a 1-D int32 array."""
    _check_int32_array(arr)
    sig = types.none(arr, types.intp, I32x8)

    def codegen(context, builder, signature, args):
        index_value = context.cast(builder, args[1], signature.args[1], types.intp)
        _store_row(context, builder, signature.args[0], args[0], index_value, args[2])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def vstore_u16(typingctx, arr, index, vec):
    """Write the eight lanes of ``vec``, truncated to 16 bits, as uint16 to the 16 bytes at ``arr[index:index + 4]``.

    ``arr`` is a 1-D int32 array; lane ``2k`` goes to the low half of word
    ``index + k``, lane ``2k + 1`` to its high half (little-endian uint16 order).
    """
    _check_int32_array(arr)
    sig = types.none(arr, types.intp, I32x8)

    def codegen(context, builder, signature, args):
        index_value = context.cast(builder, args[1], signature.args[1], types.intp)
        halves = builder.trunc(args[2], ir.VectorType(ir.IntType(16), LANES))
        _store_row(context, builder, signature.args[0], args[0], index_value, halves)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def vsplat(typingctx, value):
    """A vector with ``value`` (truncated to int32) in every lane."""
    if not isinstance(value, types.Integer):
        raise TypeError(f"vsplat takes an integer, got {value}")
    sig = I32x8(value)

    def codegen(context, builder, signature, args):
        scalar = context.cast(builder, args[0], signature.args[0], types.int32)
        vec = ir.Constant(_VEC, ir.Undefined)
        vec = builder.insert_element(vec, scalar, ir.Constant(_I32, 0))
        return builder.shuffle_vector(vec, vec, ir.Constant(_VEC, [0] * LANES))

    return sig, codegen


@intrinsic
def vmadd(typingctx, acc, a, b):
    """``acc + a * b`` lane by lane (int32, wrapping)."""
    sig = I32x8(I32x8, I32x8, I32x8)

    def codegen(context, builder, signature, args):
        return builder.add(args[0], builder.mul(args[1], args[2]))

    return sig, codegen


@intrinsic
def vround_clip8(typingctx, acc, shift):
    """``clip(acc >> shift, 0, 255)`` lane by lane (arithmetic shift), Pillow's ``clip8``."""
    sig = I32x8(I32x8, shift)

    def codegen(context, builder, signature, args):
        amount = context.cast(builder, args[1], signature.args[1], types.int32)
        amount_vec = builder.shuffle_vector(
            builder.insert_element(ir.Constant(_VEC, ir.Undefined), amount, ir.Constant(_I32, 0)),
            ir.Constant(_VEC, ir.Undefined), ir.Constant(_VEC, [0] * LANES))
        v = builder.ashr(args[0], amount_vec)
        zero = ir.Constant(_VEC, [0] * LANES)
        top = ir.Constant(_VEC, [255] * LANES)
        v = builder.select(builder.icmp_signed("<", v, zero), zero, v)
        return builder.select(builder.icmp_signed(">", v, top), top, v)

    return sig, codegen


FORCE_PORTABLE = False
"""Tests set this to compile the portable (no AVX2) code paths on an AVX2 machine."""


def _has_avx2(context) -> bool:
    """Whether the code being compiled targets AVX2 (Numba's target features, not only the host's)."""
    if FORCE_PORTABLE:
        return False
    features = getattr(context.codegen(), "_tm_features", "") or ""
    return "+avx2" in features.split(",")


def _grey8(context, builder, ptr, second=12):
    """Pillow "L" of 8 RGB pixels at the ``i8*`` ``ptr``, as ``<8 x i32>``: pixels 0-3, then 4-7 (``second = 12``).

    Two 16-byte loads (bytes 0-15 and ``second`` to ``second + 15``) make a
    32-byte vector whose halves hold pixels 0-3 and the four pixels from byte
    ``second`` at the same places, so channels are
    picked into 32-bit lanes by in-lane byte shuffles (``vpshufb`` with
    zeroing). With AVX2, one shuffle makes the 16-bit pairs ``(R, B)`` and
    one ``(G, G)``, and ``vpmaddwd`` forms ``19595 R + 7471 B`` and ``32767 G
    + 5703 G`` (38470 does not fit in 16 bits); elsewhere each channel is
    picked and multiplied on its own. Then ``+ 0x8000 >> 16``, exact: the
    sum is below 2**24.
    """
    bytes16 = ir.VectorType(_I8, 16)
    bytes32 = ir.VectorType(_I8, 32)
    mask_type = ir.VectorType(_I32, 32)
    first = builder.load(builder.bitcast(ptr, bytes16.as_pointer()), align=1)
    second_ptr = builder.gep(ptr, [ir.Constant(ir.IntType(64), second)])
    second = builder.load(builder.bitcast(second_ptr, bytes16.as_pointer()), align=1)
    both = builder.shuffle_vector(first, second, ir.Constant(mask_type, list(range(32))))
    zeros = ir.Constant(bytes32, [0] * 32)

    def pick(channels):
        # per pixel, 4 bytes: each channel's byte followed by a zero byte (16-bit values), or one
        # channel's byte followed by three zero bytes (a 32-bit value)
        mask = []
        for k in range(LANES):
            base = 3 * k if k < 4 else 16 + 3 * (k - 4)
            for channel in channels:
                mask += [base + channel] + [32] * (4 // len(channels) - 1)
        return builder.shuffle_vector(both, zeros, ir.Constant(mask_type, mask))

    total = ir.Constant(_VEC, [0x8000] * LANES)
    if _has_avx2(context):
        words = ir.VectorType(ir.IntType(16), 16)
        pmaddwd = builder.module.declare_intrinsic(
            "llvm.x86.avx2.pmadd.wd", fnty=ir.FunctionType(_VEC, [words, words]))
        for channels, weights in (((0, 2), [19595, 7471]), ((1, 1), [32767, 5703])):
            pairs = builder.bitcast(pick(channels), words)
            total = builder.add(total, builder.call(pmaddwd, [pairs, ir.Constant(words, weights * LANES)]))
    else:
        for channel, weight in enumerate((19595, 38470, 7471)):
            picked = builder.bitcast(pick((channel,)), _VEC)
            total = builder.add(total, builder.mul(picked, ir.Constant(_VEC, [weight] * LANES)))
    return builder.lshr(total, ir.Constant(_VEC, [16] * LANES))


@intrinsic
def vgrey_rgb(typingctx, arr, index):
    """Pillow "L" of the 8 RGB pixels at bytes ``arr[index:index + 24]`` of a 1-D uint8 array.

    ``(R*19595 + G*38470 + B*7471 + 0x8000) >> 16`` per pixel, exact (the
    sum is below 2**24). Reads ``arr[index:index + 28]``: the caller
    guarantees ``index + 28 <= arr.size``.
    """
    _check_array(arr, types.uint8)
    sig = I32x8(arr, types.intp)

    def codegen(context, builder, signature, args):
        index_value = context.cast(builder, args[1], signature.args[1], types.intp)
        return _grey8(context, builder, _element_pointer(context, builder, signature.args[0], args[0], index_value))

    return sig, codegen


@intrinsic
def vgrey_pairs(typingctx, arr, index):
    """Pillow "L" of the 16 RGB pixels at bytes ``arr[index:index + 48]``, as 16-bit values paired in int32 words.

    Word ``m`` of the result holds pixel ``2m`` in its low 16 bits and pixel
    ``2m + 1`` in its high 16 bits: the little-endian layout of a uint16 row,
    so a store gives the grey row as uint16. Reads ``arr[index:index + 52]``:
    the caller guarantees ``index + 52 <= arr.size``.
    """
    _check_array(arr, types.uint8)
    sig = I32x8(arr, types.intp)

    def codegen(context, builder, signature, args):
        index_value = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = _element_pointer(context, builder, signature.args[0], args[0], index_value)
        # pixels (0-3, 8-11) and (4-7, 12-15): interleaving their 16-bit
        # halves lane by lane (one in-lane pack) puts all 16 in order
        quads = []
        for offset in (0, 12):
            grey = _grey8(context, builder, builder.gep(ptr, [ir.Constant(ir.IntType(64), offset)]), second=24)
            quads.append(builder.trunc(grey, ir.VectorType(ir.IntType(16), LANES)))
        order = [0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15]
        words = builder.shuffle_vector(quads[0], quads[1], ir.Constant(ir.VectorType(_I32, 16), order))
        return builder.bitcast(words, _VEC)

    return sig, codegen


@intrinsic
def vmadd_pairs(typingctx, acc, a, b):
    """``acc + lo(a) * lo(b) + hi(a) * hi(b)`` lane by lane, ``lo``/``hi`` the signed 16-bit halves of each word.

    One ``vpmaddwd`` when the target has AVX2 (its products and pair sum are
    exact: each is below 2**31 in magnitude); elsewhere the same arithmetic
    on sign-extended halves. The final add wraps as int32.
    """
    sig = I32x8(I32x8, I32x8, I32x8)

    def codegen(context, builder, signature, args):
        acc_value, a_value, b_value = args
        if _has_avx2(context):
            words = ir.VectorType(ir.IntType(16), 16)
            pmaddwd = builder.module.declare_intrinsic(
                "llvm.x86.avx2.pmadd.wd", fnty=ir.FunctionType(_VEC, [words, words]))
            pair_sums = builder.call(pmaddwd, [builder.bitcast(a_value, words), builder.bitcast(b_value, words)])
            return builder.add(acc_value, pair_sums)
        sixteen = ir.Constant(_VEC, [16] * LANES)

        def halves(vec):
            return builder.ashr(builder.shl(vec, sixteen), sixteen), builder.ashr(vec, sixteen)

        a_lo, a_hi = halves(a_value)
        b_lo, b_hi = halves(b_value)
        return builder.add(acc_value, builder.add(builder.mul(a_lo, b_lo), builder.mul(a_hi, b_hi)))

    return sig, codegen


def _transpose(builder, rows):
    """8x8 transpose of eight ``<8 x i32>`` rows by three rounds of two-vector shuffles."""
    # round 1: interleave 32-bit lanes of row pairs (0,1), (2,3), ...
    lo32 = [0, 8, 1, 9, 4, 12, 5, 13]
    hi32 = [2, 10, 3, 11, 6, 14, 7, 15]
    r1 = []
    for k in range(0, 8, 2):
        r1.append(builder.shuffle_vector(rows[k], rows[k + 1], ir.Constant(_VEC, lo32)))
        r1.append(builder.shuffle_vector(rows[k], rows[k + 1], ir.Constant(_VEC, hi32)))
    # r1[2m]   = [a0 b0 a1 b1 | a4 b4 a5 b5] of rows (2m, 2m+1); r1[2m+1] the same for lanes 2, 3, 6, 7
    lo64 = [0, 1, 8, 9, 4, 5, 12, 13]
    hi64 = [2, 3, 10, 11, 6, 7, 14, 15]
    r2 = [None] * 8
    for base in (0, 4):
        for half in (0, 1):
            a, b = r1[base + half], r1[base + 2 + half]
            r2[base + 2 * half] = builder.shuffle_vector(a, b, ir.Constant(_VEC, lo64))
            r2[base + 2 * half + 1] = builder.shuffle_vector(a, b, ir.Constant(_VEC, hi64))
    # r2[base + j] holds column j (and j + 4 in its upper half) of rows base..base+3
    first = [0, 1, 2, 3, 8, 9, 10, 11]
    second = [4, 5, 6, 7, 12, 13, 14, 15]
    out = [None] * 8
    for j in range(4):
        out[j] = builder.shuffle_vector(r2[j], r2[4 + j], ir.Constant(_VEC, first))
        out[j + 4] = builder.shuffle_vector(r2[j], r2[4 + j], ir.Constant(_VEC, second))
    return out


@intrinsic
def transpose8(typingctx, src, src_index, src_stride, dst, dst_index, dst_stride):
    """Transpose the 8 x 8 block at ``src[src_index]`` (row stride ``src_stride``) into ``dst``.

    Both are 1-D C-contiguous int32 arrays; ``dst[dst_index + j * dst_stride + i]``
    receives ``src[src_index + i * src_stride + j]`` for ``i, j < 8``. The
    blocks must not overlap.
    """
    _check_int32_array(src)
    _check_int32_array(dst)
    sig = types.none(src, types.intp, types.intp, dst, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        srcty, _, _, dstty, _, _ = signature.args
        s_index, s_stride, d_index, d_stride = (
            context.cast(builder, args[k], signature.args[k], types.intp) for k in (1, 2, 4, 5))
        rows = []
        for i in range(8):
            offset = builder.add(s_index, builder.mul(s_stride, ir.Constant(s_stride.type, i)))
            rows.append(_load_row(context, builder, srcty, args[0], offset))
        for j, vec in enumerate(_transpose(builder, rows)):
            offset = builder.add(d_index, builder.mul(d_stride, ir.Constant(d_stride.type, j)))
            _store_row(context, builder, dstty, args[3], offset, vec)
        return context.get_dummy_value()

    return sig, codegen


# --------------------------------------------------------------------------
# Four-lane float64 vectors (phash's matrix DCT block)
# --------------------------------------------------------------------------

@intrinsic
def fload(typingctx, arr, index):
    """``arr[index:index + 4]`` of a 1-D float64 array, as a vector."""
    _check_array(arr, types.float64)
    sig = F64x4(arr, types.intp)

    def codegen(context, builder, signature, args):
        index_value = context.cast(builder, args[1], signature.args[1], types.intp)
        return _load_row(context, builder, signature.args[0], args[0], index_value, _FVEC, 8)

    return sig, codegen


@intrinsic
def fstore(typingctx, arr, index, vec):
    """Write ``vec`` to ``arr[index:index + 4]`` of a 1-D float64 array."""
    _check_array(arr, types.float64)
    sig = types.none(arr, types.intp, F64x4)

    def codegen(context, builder, signature, args):
        index_value = context.cast(builder, args[1], signature.args[1], types.intp)
        _store_row(context, builder, signature.args[0], args[0], index_value, args[2], 8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def fsplat(typingctx, value):
    """A vector with ``value`` (as float64) in every lane."""
    if not isinstance(value, (types.Float, types.Integer)):
        raise TypeError(f"fsplat takes a number, got {value}")
    sig = F64x4(value)

    def codegen(context, builder, signature, args):
        scalar = context.cast(builder, args[0], signature.args[0], types.float64)
        vec = builder.insert_element(ir.Constant(_FVEC, ir.Undefined), scalar, ir.Constant(_I32, 0))
        return builder.shuffle_vector(vec, vec, ir.Constant(ir.VectorType(_I32, 4), [0] * 4))

    return sig, codegen


@intrinsic
def fmuladd(typingctx, acc, a, b):
    """``acc + a * b`` lane by lane in float64 (one rounding or two: ``llvm.fmuladd`` lets LLVM fuse it)."""
    sig = F64x4(F64x4, F64x4, F64x4)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(_FVEC, [_FVEC, _FVEC, _FVEC])
        fn = builder.module.declare_intrinsic("llvm.fmuladd.v4f64", fnty=fnty)
        return builder.call(fn, [args[1], args[2], args[0]])

    return sig, codegen


def _float_binary(name: str, doc: str):
    """An intrinsic applying the LLVM float instruction ``name`` (``fmul``, ``fadd``) lane by lane, rounded once."""

    def op(typingctx, a, b):
        sig = F64x4(F64x4, F64x4)

        def codegen(context, builder, signature, args):
            return getattr(builder, name)(args[0], args[1])

        return sig, codegen

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return intrinsic(op)


fmul = _float_binary("fmul", "``a * b`` lane by lane in float64, rounded once (no fusing with a later add).")
fadd = _float_binary("fadd", "``a + b`` lane by lane in float64, rounded once.")


def _load_pairs(context, builder, signature, args):
    """The eight float64 values at ``arr[index:index + 8]``, as ``<8 x double>``."""
    index_value = context.cast(builder, args[1], signature.args[1], types.intp)
    return _load_row(context, builder, signature.args[0], args[0], index_value, ir.VectorType(_F64, 8), 8)


def _stride2_load(first: int, name: str):
    """An intrinsic loading ``arr[index + first + 2j]`` for ``j < 4`` of a 1-D float64 array (it reads 8 values)."""

    def load(typingctx, arr, index):
        _check_array(arr, types.float64)
        sig = F64x4(arr, types.intp)

        def codegen(context, builder, signature, args):
            both = _load_pairs(context, builder, signature, args)
            picks = [first + 2 * j for j in range(4)]
            return builder.shuffle_vector(both, both, ir.Constant(ir.VectorType(_I32, 4), picks))

        return sig, codegen

    load.__name__ = load.__qualname__ = name
    load.__doc__ = f"``arr[index + {first}], arr[index + {first + 2}], ...`` (4 values, every other one) of a 1-D float64 array."
    return intrinsic(load)


fload_even = _stride2_load(0, "fload_even")
fload_odd = _stride2_load(1, "fload_odd")


@intrinsic
def fstore_interleaved(typingctx, arr, index, even, odd):
    """``arr[index + 2j] = even[j]`` and ``arr[index + 2j + 1] = odd[j]`` for ``j < 4`` (a 1-D float64 array)."""
    _check_array(arr, types.float64)
    sig = types.none(arr, types.intp, F64x4, F64x4)

    def codegen(context, builder, signature, args):
        index_value = context.cast(builder, args[1], signature.args[1], types.intp)
        both = builder.shuffle_vector(args[2], args[3], ir.Constant(ir.VectorType(_I32, 8), [0, 4, 1, 5, 2, 6, 3, 7]))
        _store_row(context, builder, signature.args[0], args[0], index_value, both, 8)
        return context.get_dummy_value()

    return sig, codegen

