# Reference quantizers in numpy, for test/gguf/quant.test.ts.
# Adapted from llama.cpp's gguf-py/gguf/quants.py (MIT License, Copyright (c) 2023-2024 The ggml authors),
# whose Q8_0 is documented there as bit-exact with ggml-quants.c. Kept minimal: F16, BF16, Q8_0, Q4_0.
# stdin: little-endian float32 values; argv[1]: type; stdout: the quantized bytes.
import sys
import numpy as np


def np_roundf(n):
    a = abs(n)
    floored = np.floor(a)
    b = floored + np.floor(2 * (a - floored))
    return np.sign(n) * b


def q8_0(x):
    blocks = x.reshape(-1, 32)
    d = abs(blocks).max(axis=1, keepdims=True) / np.float32(127)
    with np.errstate(divide="ignore"):
        id = np.where(d == 0, np.float32(0), np.float32(1) / d)
    qs = np_roundf(blocks * id)
    return np.concatenate([d.astype(np.float16).view(np.uint8), qs.astype(np.int8).view(np.uint8)], axis=1)


def q4_0(x):
    blocks = x.reshape(-1, 32)
    n_blocks = blocks.shape[0]
    imax = abs(blocks).argmax(axis=-1, keepdims=True)
    max = np.take_along_axis(blocks, imax, axis=-1)
    d = max / np.float32(-8)
    with np.errstate(divide="ignore"):
        id = np.where(d == 0, np.float32(0), np.float32(1) / d)
    qs = np.trunc((blocks * id) + np.float32(8.5), dtype=np.float32).astype(np.uint8).clip(0, 15)
    qs = qs.reshape((n_blocks, 2, 16))
    qs = qs[..., 0, :] | (qs[..., 1, :] << np.uint8(4))
    return np.concatenate([d.astype(np.float16).view(np.uint8), qs], axis=-1)


def bf16(x):
    n = x.view(np.uint32)
    n = (n.astype(np.uint64) + (0x7fff + ((n >> 16) & 1))) >> 16
    return n.astype(np.uint16).view(np.uint8)


def f16(x):
    return x.astype(np.float16).view(np.uint8)


x = np.frombuffer(sys.stdin.buffer.read(), dtype="<f4").astype(np.float32)
out = {"Q8_0": q8_0, "Q4_0": q4_0, "BF16": bf16, "F16": f16}[sys.argv[1]](x)
sys.stdout.buffer.write(np.ascontiguousarray(out).tobytes())
