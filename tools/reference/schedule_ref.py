"""DDPM/DDIM schedule goldens, written from diffusers' formulas (scaled_linear betas, leading spacing, eta 0)."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from st import save  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "diffusion")
os.makedirs(OUT, exist_ok=True)

n, b0, b1 = 1000, 0.00085, 0.012
betas = torch.linspace(b0**0.5, b1**0.5, n, dtype=torch.float64) ** 2
ac = torch.cumprod(1.0 - betas, dim=0)
steps = 20
ratio = n // steps
timesteps = (torch.arange(0, steps) * ratio).round().flip(0) + 1
# one DDIM step (eta 0, set_alpha_to_one False) applied to fixed x_t and eps, for every timestep
g = torch.Generator().manual_seed(0)
xt = torch.randn(16, generator=g, dtype=torch.float64)
eps = torch.randn(16, generator=g, dtype=torch.float64)
prevs = []
for t in timesteps.tolist():
    t = int(t)
    p = t - ratio
    at = ac[t]
    ap = ac[p] if p >= 0 else ac[0]
    x0 = (xt - (1 - at) ** 0.5 * eps) / at**0.5
    prevs.append(ap**0.5 * x0 + (1 - ap) ** 0.5 * eps)
save(
    os.path.join(OUT, "schedule.safetensors"),
    {
        "betas": betas.float(),
        "alphas_cumprod": ac.float(),
        "ddim_timesteps": timesteps.float(),
        "xt": xt.float(),
        "eps": eps.float(),
        "ddim_prev": torch.stack(prevs).float(),
    },
    {"steps": steps},
)
print("wrote", OUT)
