"""Writes attention goldens into tests/fixtures/ops/attention/<case>.safetensors.

Run from the repo root with Debian's python3 (torch 1.13):  /usr/bin/python3 tools/reference/ops_attention.py
torch 1.13 has no scaled_dot_product_attention, so the reference is softmax(q k^T * scale) v per head in
float64 (heads laid out as diffusers does: channel = head * D + d), cast to float32. Tensors: in.q, in.k,
in.v, in.gy (random upstream gradient), out.y, grad.q/k/v = d sum(out.y * in.gy) / d q/k/v. For "f16" cases
the inputs are rounded to float16 first (the test stores them as f16).
"""
import os
import sys
import zlib

import torch

sys.path.insert(0, os.path.dirname(__file__))
from st import save  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "ops", "attention")


def attention(q, k, v, heads, scale):
    B, nq, C = q.shape
    nk = k.shape[1]
    D = C // heads
    qh = q.reshape(B, nq, heads, D).transpose(1, 2)
    kh = k.reshape(B, nk, heads, D).transpose(1, 2)
    vh = v.reshape(B, nk, heads, D).transpose(1, 2)
    p = torch.softmax(qh @ kh.transpose(-1, -2) * scale, dim=-1)
    return (p @ vh).transpose(1, 2).reshape(B, nq, C)


def case(name, B, nq, nk, heads, D, dtype="f32", scale=None, q_gain=1.0):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    C = heads * D
    rnd = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    q, k, v = rnd(B, nq, C) * q_gain, rnd(B, nk, C), rnd(B, nk, C)
    gy = rnd(B, nq, C).float().double()
    if dtype == "f16":
        q, k, v = (t.half().double() for t in (q, k, v))
    else:
        q, k, v = (t.float().double() for t in (q, k, v))
    s = scale if scale is not None else 1.0 / D**0.5
    q, k, v = (t.requires_grad_(True) for t in (q, k, v))
    y = attention(q, k, v, heads, s)
    (y * gy).sum().backward()
    meta = {"dtype": dtype, "heads": heads, "scale": scale if scale is not None else "default"}
    tensors = {"in.q": q, "in.k": k, "in.v": v, "in.gy": gy, "out.y": y, "grad.q": q.grad, "grad.k": k.grad, "grad.v": v.grad}
    os.makedirs(OUT, exist_ok=True)
    save(os.path.join(OUT, f"{name}.safetensors"), {n: t.detach().float() for n, t in tensors.items()}, meta)


def main():
    case("self_b1_n7_h1_d8", 1, 7, 7, 1, 8)
    case("cross_b2_nq7_nk13_h2_d40", 2, 7, 13, 2, 40)
    case("cross_b2_nq33_nk5_h8_d8", 2, 33, 5, 8, 8)
    case("self_b1_n33_h1_d64", 1, 33, 33, 1, 64, q_gain=2.0)
    case("cross_b1_nq9_nk11_h2_d80_scale", 1, 9, 11, 2, 80, scale=0.3)
    case("cross_b1_nq9_nk17_h1_d160", 1, 9, 17, 1, 160)
    case("self_b1_n6_h1_d512", 1, 6, 6, 1, 512)
    case("f16_cross_b2_nq7_nk13_h2_d40", 2, 7, 13, 2, 40, "f16")
    case("f16_self_b1_n33_h1_d64", 1, 33, 33, 1, 64, "f16")
    case("f16_cross_b1_nq9_nk17_h1_d160", 1, 9, 17, 1, 160, "f16")


if __name__ == "__main__":
    main()
