"""Goldens for the "pointwise and norms" ops: group_norm, layer_norm, silu, gelu, geglu, add, mul, scale,
concat, slice, upsample_nearest2x, timestep_embedding.

Run from the repo root with Debian's python3 (torch 1.13):  /usr/bin/python3 tools/reference/ops_pointwise.py

Writes tests/fixtures/ops/<op>/<case>.safetensors (f32 inputs) and <case>.f16.safetensors (the same case with
every input rounded to f16, for the f16-storage tests). Each file holds the inputs `in.<name>`, a random
upstream gradient `in.gy`, the output `out.y` and the gradients `grad.<name>` of sum(out.y * in.gy); case
parameters are in the metadata. References are computed in float64 from the stored (f32 or f16-rounded)
inputs, so they are the exact answer the f32 kernels are measured against. The timestep embedding is the
exception: it is computed in float32 exactly as diffusers does, since that is the value a model sees.
Seeds come from the case names, so the files are reproducible one by one.
"""
import math
import os
import sys
import zlib

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from st import save  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "ops")


def rng(name):
    return torch.Generator().manual_seed(zlib.crc32(name.encode()))


def randn(g, *shape, scale=1.0, shift=0.0):
    return torch.randn(*shape, generator=g, dtype=torch.float32) * scale + shift


def write(op, case, inputs, fn, meta, grads=True):
    """inputs: dict name -> f32 tensor (rounded to f16 for the .f16 file); fn(**f64 inputs) -> output."""
    os.makedirs(os.path.join(ROOT, op), exist_ok=True)
    for suffix, rounding in (("", None), (".f16", torch.float16)):
        ins = {k: (v.to(rounding).float() if rounding else v) for k, v in inputs.items()}
        leaves = {k: v.double().requires_grad_(grads) for k, v in ins.items()}
        y = fn(**leaves)
        g = rng(f"{op}/{case}/gy")
        gy = torch.randn(y.shape, generator=g, dtype=torch.float32)
        out = {f"in.{k}": v for k, v in ins.items()}
        out["out.y"] = y.detach().float()
        if grads:
            out["in.gy"] = gy
            (y * gy.double()).sum().backward()
            for k, v in leaves.items():
                out[f"grad.{k}"] = v.grad.float()
        save(os.path.join(ROOT, op, f"{case}{suffix}.safetensors"), out, meta)


def group_norm_ref(x, weight, bias, groups, eps, frames):
    """LatentSync's resnet GroupNorm: statistics per sample over all of its frames ([(b f), c, h, w])."""
    n, c, h, w = x.shape
    x5 = x.reshape(n // frames, frames, c, h, w).permute(0, 2, 1, 3, 4)  # b c f h w
    y5 = F.group_norm(x5, groups, weight, bias, eps)
    return y5.permute(0, 2, 1, 3, 4).reshape(n, c, h, w)


def group_norm():
    cases = [
        ("c12g3_f1", (2, 12, 5, 3), 3, 1e-5, 1, 0.0),
        ("c12g3_f3", (6, 12, 3, 5), 3, 1e-6, 3, 0.0),
        ("c32g8_f1", (2, 32, 3, 3), 8, 1e-6, 1, 0.0),
        ("c32g8_f3", (6, 32, 4, 3), 8, 1e-5, 3, 0.0),
        # A mean far from zero relative to the spread: a one-pass sum of squares would lose the variance.
        ("c12g3_offset", (2, 12, 7, 5), 3, 1e-6, 1, 8.0),
    ]
    for name, shape, groups, eps, frames, shift in cases:
        g = rng("group_norm/" + name)
        c = shape[1]
        inputs = {"x": randn(g, *shape, scale=0.5 if shift else 1.0, shift=shift), "weight": randn(g, c, scale=0.5, shift=1.0), "bias": randn(g, c, scale=0.5)}
        write("group_norm", name, inputs, lambda x, weight, bias: group_norm_ref(x, weight, bias, groups, eps, frames),
              {"groups": groups, "eps": eps, "framesPerSample": frames})


def layer_norm():
    cases = [("affine", (2, 5, 7), True, True, 1e-5), ("weight_only", (3, 67), True, False, 1e-6), ("plain", (4, 3, 33), False, False, 1e-5)]
    for name, shape, has_w, has_b, eps in cases:
        g = rng("layer_norm/" + name)
        c = shape[-1]
        inputs = {"x": randn(g, *shape, scale=2.0, shift=0.5)}
        if has_w:
            inputs["weight"] = randn(g, c, scale=0.5, shift=1.0)
        if has_b:
            inputs["bias"] = randn(g, c, scale=0.5)
        write("layer_norm", name, inputs, lambda x, weight=None, bias=None: F.layer_norm(x, (c,), weight, bias, eps), {"eps": eps})


def activations():
    g = rng("silu")
    write("silu", "odd", {"x": randn(g, 2, 3, 5, 7, scale=3.0)}, lambda x: F.silu(x), {})
    for form in ("erf", "tanh"):
        g = rng("gelu/" + form)
        approx = "none" if form == "erf" else "tanh"
        write("gelu", form, {"x": randn(g, 3, 37, scale=3.0)}, lambda x: F.gelu(x, approximate=approx), {"approximate": form})
        g = rng("geglu/" + form)

        def geglu(x):
            hidden, gate = x.chunk(2, dim=-1)
            return hidden * F.gelu(gate, approximate=approx)

        write("geglu", form, {"x": randn(g, 2, 5, 14, scale=2.0)}, geglu, {"approximate": form})


def broadcasting():
    cases = [
        ("same", (2, 3, 5), (2, 3, 5)),
        ("temb", (2, 3, 4, 5), (2, 3, 1, 1)),
        ("channel", (2, 3, 4, 5), (1, 3, 1, 1)),
        ("both", (3, 1, 5), (4, 1)),
        ("rank", (2, 3, 7), (7,)),
        ("lhs", (1, 3, 1), (2, 3, 5)),
    ]
    for name, sa, sb in cases:
        g = rng("add/" + name)
        alpha = -0.75 if name in ("temb", "both") else 1.0
        inputs = {"a": randn(g, *sa), "b": randn(g, *sb)}
        write("add", name, inputs, lambda a, b: torch.add(a, b, alpha=alpha), {"alpha": alpha})
        g = rng("mul/" + name)
        write("mul", name, {"a": randn(g, *sa), "b": randn(g, *sb)}, lambda a, b: a * b, {})
    g = rng("scale")
    write("scale", "odd", {"x": randn(g, 3, 5, 7)}, lambda x: x * -1.5, {"s": -1.5})


def concat_slice():
    cases = [("dim1", [(2, 3, 4, 5), (2, 5, 4, 5), (2, 1, 4, 5)], 1), ("last", [(3, 2), (3, 5)], -1), ("dim0", [(1, 3, 3), (2, 3, 3)], 0)]
    for name, shapes, dim in cases:
        g = rng("concat/" + name)
        inputs = {f"x{i}": randn(g, *s) for i, s in enumerate(shapes)}
        write("concat", name, inputs, lambda **xs: torch.cat([xs[f"x{i}"] for i in range(len(xs))], dim), {"dim": dim, "count": len(shapes)})
    for name, shape, dim, start, end in [("dim1", (2, 7, 3, 5), 1, 2, 5), ("last", (2, 3, 9), -1, 1, 4), ("dim0", (3, 5, 3), 0, 1, 3)]:
        g = rng("slice/" + name)
        write("slice", name, {"x": randn(g, *shape)}, lambda x: x.narrow(dim, start, end - start), {"dim": dim, "start": start, "end": end})


def upsample():
    g = rng("upsample")
    write("upsample", "odd", {"x": randn(g, 2, 3, 5, 7)}, lambda x: F.interpolate(x, scale_factor=2.0, mode="nearest"), {})


def get_timestep_embedding(timesteps, embedding_dim, flip_sin_to_cos=False, downscale_freq_shift=1.0, scale=1.0, max_period=10000):
    """diffusers.models.embeddings.get_timestep_embedding, written out in float32 as diffusers runs it."""
    assert len(timesteps.shape) == 1
    half_dim = embedding_dim // 2
    exponent = -math.log(max_period) * torch.arange(start=0, end=half_dim, dtype=torch.float32)
    exponent = exponent / (half_dim - downscale_freq_shift)
    freqs = torch.exp(exponent)
    emb = timesteps[:, None].float() * freqs[None, :]
    emb = scale * emb
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half_dim:], emb[:, :half_dim]], dim=-1)
    if embedding_dim % 2 == 1:
        emb = F.pad(emb, (0, 1, 0, 0))
    return emb, freqs


def timestep_embedding():
    # LatentSync / SD UNet: dim 320, flip_sin_to_cos=True, freq_shift=0. Then an odd dim with the default shift
    # of 1, and a scaled one with a shorter max period.
    cases = [("unet320", 320, True, 0.0, 1.0, 10000), ("odd7", 7, False, 1.0, 1.0, 10000), ("scaled32", 32, True, 1.0, 2.0, 5000)]
    ts = torch.tensor([0.0, 1.0, 17.5, 250.0, 500.0, 999.0], dtype=torch.float32)
    os.makedirs(os.path.join(ROOT, "timestep_embedding"), exist_ok=True)
    for name, dim, flip, shift, scale, max_period in cases:
        y, freqs = get_timestep_embedding(ts, dim, flip, shift, scale, max_period)
        meta = {"dim": dim, "flipSinToCos": flip, "downscaleFreqShift": shift, "scale": scale, "maxPeriod": max_period}
        path = os.path.join(ROOT, "timestep_embedding", f"{name}.safetensors")
        save(path, {"in.timesteps": ts, "out.y": y, "ref.freqs": freqs}, meta)


if __name__ == "__main__":
    group_norm()
    layer_norm()
    activations()
    broadcasting()
    concat_slice()
    upsample()
    timestep_embedding()
    mine = ["group_norm", "layer_norm", "silu", "gelu", "geglu", "add", "mul", "scale", "concat", "slice", "upsample", "timestep_embedding"]
    total = sum(os.path.getsize(os.path.join(ROOT, op, f)) for op in mine for f in os.listdir(os.path.join(ROOT, op)))
    print(f"wrote tests/fixtures/ops/{{{','.join(mine)}}} ({total} bytes)")
