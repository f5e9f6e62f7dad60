"""Writes goldens for sum, mean, mse_loss and softmax into tests/fixtures/ops/<op>/<case>.safetensors.

Run from the repo root with Debian's python3 (torch 1.13):  /usr/bin/python3 tools/reference/ops_reduce.py
Each file holds inputs in.<name>, a random upstream gradient in.gy, the output out.y and grad.<name> =
d sum(out.y * in.gy) / d <name>. References run in float64 and are stored as float32. For "f16" cases the
inputs are rounded to float16 first (the test stores them as f16), so the reference sees what the GPU sees.
"""
import os
import sys
import zlib

import torch

sys.path.insert(0, os.path.dirname(__file__))
from st import save  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "ops")


def rand(g, *shape, scale=1.0):
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


def round_to(x, dtype):
    return x.to(torch.float16).to(torch.float64) if dtype == "f16" else x.to(torch.float32).to(torch.float64)


def write(op, case, inputs, fn, meta):
    """inputs: dict name -> float64 tensor (already rounded to the case dtype). fn(**inputs) -> output."""
    xs = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    y = fn(**xs)
    g = torch.Generator().manual_seed(zlib.crc32(f"{op}/{case}".encode()))
    gy = round_to(rand(g, *y.shape), "f32")
    (y * gy).sum().backward()
    tensors = {f"in.{k}": v.detach().float() for k, v in xs.items()}
    tensors["in.gy"] = gy.float()
    tensors["out.y"] = y.detach().float()
    for k, v in xs.items():
        tensors[f"grad.{k}"] = v.grad.float()
    os.makedirs(os.path.join(OUT, op), exist_ok=True)
    save(os.path.join(OUT, op, f"{case}.safetensors"), tensors, meta)


def main():
    g = torch.Generator().manual_seed(1234)
    for dtype in ("f32", "f16"):
        # sum / mean over everything and along the last dim; odd sizes, batch > 1.
        for shape in ((3, 5, 7), (2, 1000)):
            x = round_to(rand(g, *shape, scale=2.0) + 0.5, dtype)
            tag = f"{'x'.join(map(str, shape))}_{dtype}"
            write("sum", f"all_{tag}", {"x": x}, lambda x: x.sum().reshape(1), {"dtype": dtype, "dim": "all"})
            write("sum", f"last_{tag}", {"x": x}, lambda x: x.sum(-1), {"dtype": dtype, "dim": -1})
            write("mean", f"all_{tag}", {"x": x}, lambda x: x.mean().reshape(1), {"dtype": dtype, "dim": "all"})
            write("mean", f"last_{tag}", {"x": x}, lambda x: x.mean(-1), {"dtype": dtype, "dim": -1})
        for shape in ((2, 3, 5, 7), (2049,)):
            a = round_to(rand(g, *shape), dtype)
            b = round_to(rand(g, *shape, scale=0.5), dtype)
            tag = f"{'x'.join(map(str, shape))}_{dtype}"
            write("mse_loss", tag, {"a": a, "b": b}, lambda a, b: torch.nn.functional.mse_loss(a, b).reshape(1), {"dtype": dtype})
        # softmax over the last dim: short rows, odd lengths, a long row, large logits (max subtraction).
        for shape, scale in (((2, 3, 7), 1.0), ((5, 33), 4.0), ((2, 700), 1.0), ((3, 13), 30.0)):
            x = round_to(rand(g, *shape, scale=scale), dtype)
            tag = f"{'x'.join(map(str, shape))}_s{int(scale)}_{dtype}"
            write("softmax", tag, {"x": x}, lambda x: torch.softmax(x, -1), {"dtype": dtype})


if __name__ == "__main__":
    main()
