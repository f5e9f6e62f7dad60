"""Goldens for the linalg ops (matmul, linear, conv2d): tests/fixtures/ops/{matmul,linear,conv2d}/<case>.safetensors.

Run from the repo root with Debian's python3 (torch 1.13):  /usr/bin/python3 tools/reference/ops_linalg.py

Each file holds the inputs `in.<name>`, a random upstream gradient `in.gy`, the output `out.y` and the
gradients `grad.<name>` of sum(out.y * in.gy), all float32. References are computed in float64 from the
stored float32 inputs. For f16 cases (metadata dtype "f16") the inputs are rounded to float16 first and
stored as those rounded values in float32: the test uploads them as f16 storage (exactly), and the
reference is torch on the rounded inputs. The upstream gradient stays float32 (gradients are f32).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from st import save  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "ops")
gen = torch.Generator().manual_seed(1234)


def rand(*shape, dtype="f32"):
    t = torch.randn(*shape, generator=gen, dtype=torch.float32)
    return t.half().float() if dtype == "f16" else t


def write(op, case, inputs, forward, meta):
    """inputs: name -> float32 tensor (or None). Runs forward in float64 and saves inputs, output, gy, grads."""
    leaves = {k: v.double().requires_grad_(True) for k, v in inputs.items() if v is not None}
    y = forward(**leaves)
    gy = torch.randn(*y.shape, generator=gen, dtype=torch.float32)
    (y * gy.double()).sum().backward()
    tensors = {f"in.{k}": v for k, v in inputs.items() if v is not None}
    tensors["in.gy"] = gy
    tensors["out.y"] = y.detach().float()
    for k, v in leaves.items():
        tensors[f"grad.{k}"] = v.grad.float()
    os.makedirs(os.path.join(ROOT, op), exist_ok=True)
    save(os.path.join(ROOT, op, f"{case}.safetensors"), tensors, {"case": case, **meta})


def matmul_cases():
    def case(name, a_shape, b_shape, trans_a=False, trans_b=False, dtype="f32"):
        a, b = rand(*a_shape, dtype=dtype), rand(*b_shape, dtype=dtype)

        def fwd(a, b):
            return (a.transpose(-1, -2) if trans_a else a) @ (b.transpose(-1, -2) if trans_b else b)

        write("matmul", name, {"a": a, "b": b}, fwd, {"transA": trans_a, "transB": trans_b, "dtype": dtype})

    case("m7_k13_n33", [7, 13], [13, 33])
    case("batch3_m5_k9_n6", [3, 5, 9], [3, 9, 6])
    case("batch2_transA", [2, 13, 7], [2, 13, 5], trans_a=True)
    case("batch2_transB", [2, 7, 13], [2, 33, 13], trans_b=True)
    case("batch2_transAB", [2, 9, 5], [2, 6, 9], trans_a=True, trans_b=True)
    case("batch2x3_broadcast_b", [2, 3, 7, 5], [5, 11])
    case("batch3_broadcast_b_transA", [3, 9, 7], [9, 6], trans_a=True)
    case("batch3_broadcast_b_transB", [3, 7, 9], [6, 9], trans_b=True)
    case("broadcast_a_batch3", [7, 9], [3, 9, 5])
    case("big_batch3_m40_k33_n20", [3, 40, 33], [3, 33, 20])
    case("f16_m7_k13_n33", [7, 13], [13, 33], dtype="f16")
    case("f16_batch2_transAB", [2, 9, 5], [2, 6, 9], trans_a=True, trans_b=True, dtype="f16")


def linear_cases():
    def case(name, x_shape, out_features, bias=True, dtype="f32"):
        x = rand(*x_shape, dtype=dtype)
        w = rand(out_features, x_shape[-1], dtype=dtype)
        b = rand(out_features, dtype=dtype) if bias else None

        def fwd(x, weight, bias=None):
            return F.linear(x, weight, bias)

        write("linear", name, {"x": x, "weight": w, "bias": b}, fwd, {"bias": bias, "dtype": dtype})

    case("x7x13_out5", [7, 13], 5)
    case("x2x3x9_out6", [2, 3, 9], 6)
    case("x5x33_out7_nobias", [5, 33], 7, bias=False)
    case("x3x11x17_out13", [3, 11, 17], 13)
    case("f16_x2x3x9_out6", [2, 3, 9], 6, dtype="f16")


def conv2d_cases():
    def case(name, n, cin, cout, h, w, k, stride, padding, bias=True, dtype="f32"):
        x = rand(n, cin, h, w, dtype=dtype)
        wt = rand(cout, cin, k, k, dtype=dtype)
        b = rand(cout, dtype=dtype) if bias else None
        top, bottom, left, right = [padding] * 4 if isinstance(padding, int) else padding

        def fwd(x, weight, bias=None):
            # F.pad takes (left, right, top, bottom); diffusers' Downsample2D pads (0, 1, 0, 1) this way.
            return F.conv2d(F.pad(x, (left, right, top, bottom)), weight, bias, stride=stride)

        write("conv2d", name, {"x": x, "weight": wt, "bias": b}, fwd,
              {"stride": stride, "padding": padding, "kernel": k, "bias": bias, "dtype": dtype})

    case("k3_s1_p1_n2_c3to5_9x11", 2, 3, 5, 9, 11, 3, 1, 1)
    case("k3_s1_p0_n1_c4to6_7x8", 1, 4, 6, 7, 8, 3, 1, 0)
    case("k3_s2_p1_n2_c4to3_9x11", 2, 4, 3, 9, 11, 3, 2, 1)
    case("k3_s2_pad0101_n2_c3to5_9x11", 2, 3, 5, 9, 11, 3, 2, [0, 1, 0, 1])
    case("k3_s2_pad0101_n1_c6to6_8x8", 1, 6, 6, 8, 8, 3, 2, [0, 1, 0, 1])
    case("k1_s1_p0_n2_c6to5_5x7", 2, 6, 5, 5, 7, 1, 1, 0)
    case("k1_s2_p0_n2_c5to3_7x9", 2, 5, 3, 7, 9, 1, 2, 0)
    case("k3_s1_p1_n3_c7to9_6x5_nobias", 3, 7, 9, 6, 5, 3, 1, 1, bias=False)
    case("k3_s1_p1_n2_c33to35_5x6", 2, 33, 35, 5, 6, 3, 1, 1)
    case("f16_k3_s1_p1_n2_c3to5_9x11", 2, 3, 5, 9, 11, 3, 1, 1, dtype="f16")
    case("f16_k3_s2_pad0101_n2_c3to5_9x11", 2, 3, 5, 9, 11, 3, 2, [0, 1, 0, 1], dtype="f16")


if __name__ == "__main__":
    matmul_cases()
    linear_cases()
    conv2d_cases()
