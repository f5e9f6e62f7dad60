"""Writes optimizer goldens: tests/fixtures/ops/adamw/<case>.safetensors and ops/clip_grad_norm/<case>.

Run from the repo root with Debian's python3 (torch 1.13):  /usr/bin/python3 tools/reference/optim.py
adamw: torch.optim.AdamW (float32, as it runs on the CPU) over a few steps with given gradients. Tensors:
in.p<i> (initial params), in.g<i>.s<k> (gradient of step k), out.p<i>.s<k> (params after step k), and
out.m<i> / out.v<i> (exp_avg / exp_avg_sq after the last step). Hyperparameters in the metadata.
clip_grad_norm: torch.nn.utils.clip_grad_norm_ on a list of gradients: in.g<i>, out.g<i>, out.norm.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from st import save  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "ops")
SHAPES = [(3, 5), (7,), (2, 3, 4)]


def adamw_case(name, seed, steps, lr, betas, eps, weight_decay, grad_dtype="f32", grad_scale=1.0):
    g = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(*s, generator=g)) for s in SHAPES]
    tensors = {f"in.p{i}": p.detach().clone() for i, p in enumerate(params)}
    opt = torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    for k in range(steps):
        for i, p in enumerate(params):
            grad = torch.randn(*p.shape, generator=g) * grad_scale
            if grad_dtype == "f16":
                grad = grad.half().float()
            p.grad = grad
            tensors[f"in.g{i}.s{k}"] = grad.clone()
        opt.step()
        for i, p in enumerate(params):
            tensors[f"out.p{i}.s{k}"] = p.detach().clone()
    for i, p in enumerate(params):
        tensors[f"out.m{i}"] = opt.state[p]["exp_avg"].clone()
        tensors[f"out.v{i}"] = opt.state[p]["exp_avg_sq"].clone()
    meta = {"steps": steps, "lr": lr, "beta1": betas[0], "beta2": betas[1], "eps": eps, "weight_decay": weight_decay,
            "grad_dtype": grad_dtype, "count": len(SHAPES)}
    os.makedirs(os.path.join(OUT, "adamw"), exist_ok=True)
    save(os.path.join(OUT, "adamw", f"{name}.safetensors"), tensors, meta)


def clip_case(name, seed, max_norm, scale):
    g = torch.Generator().manual_seed(seed)
    grads = [torch.randn(*s, generator=g) * scale for s in SHAPES + [(1000,)]]
    params = [torch.nn.Parameter(torch.zeros_like(x)) for x in grads]
    for p, x in zip(params, grads):
        p.grad = x.clone()
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    tensors = {f"in.g{i}": x for i, x in enumerate(grads)}
    tensors.update({f"out.g{i}": p.grad for i, p in enumerate(params)})
    tensors["out.norm"] = norm.reshape(1).float()
    os.makedirs(os.path.join(OUT, "clip_grad_norm"), exist_ok=True)
    save(os.path.join(OUT, "clip_grad_norm", f"{name}.safetensors"), tensors, {"max_norm": max_norm, "count": len(grads)})


def main():
    adamw_case("lr1e-2_b0.9_0.99_wd0.1", 1, 5, 1e-2, (0.9, 0.99), 1e-8, 0.1)
    adamw_case("defaults_f16grads", 2, 4, 1e-3, (0.9, 0.999), 1e-8, 1e-2, grad_dtype="f16", grad_scale=1e-2)
    clip_case("clipped", 3, 1.0, 0.5)
    clip_case("unclipped", 4, 100.0, 0.5)


if __name__ == "__main__":
    main()
