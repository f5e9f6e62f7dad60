"""DDIM sampling golden: the tiny UNet (the weights of tests/fixtures/models) run through LatentSync's
sampler: 3 steps, classifier-free guidance 1.5 with zero audio as the null condition, one noise tensor shared
by the frames. Writes tests/fixtures/diffusion/ddim_unet_tiny.safetensors. Run from the repo root:
  /usr/bin/python3 tools/reference/ddim_ref.py
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from models import UNET_TINY, UNet3DConditionModel  # noqa: E402
from st import load, save  # noqa: E402

torch.set_num_threads(2)
model = UNet3DConditionModel(UNET_TINY)
# the weights the TS test loads: tests/fixtures/models/unet_tiny.weights.safetensors (f16 values, run in f64)
model.load_state_dict({k: v.double() for k, v in load(os.path.join("tests", "fixtures", "models", "unet_tiny.weights.safetensors")).items()})
model = model.double()
g = torch.Generator().manual_seed(5)
f, h, w, t, steps, guidance = 2, 8, 8, 4, 3, 1.5
d = UNET_TINY["cross_attention_dim"]
noise = torch.randn(1, 4, 1, h, w, generator=g).double().repeat(1, 1, f, 1, 1)
mask = (torch.arange(h).view(1, 1, 1, h, 1) < h // 2).double().expand(1, 1, f, h, w).contiguous()
masked = torch.randn(1, 4, f, h, w, generator=g).double()
ref = torch.randn(1, 4, f, h, w, generator=g).double()
audio = torch.randn(1, f, t, d, generator=g).double()

betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
ac = torch.cumprod(1 - betas, 0)
ratio = 1000 // steps
x = noise
with torch.no_grad():
    for step in range(steps):
        tt = (steps - 1 - step) * ratio + 1
        inp = torch.cat([x, mask, masked, ref], dim=1)
        ts = torch.tensor([tt])
        eps_a = model(inp, ts, audio)
        eps_n = model(inp, ts, torch.zeros_like(audio))
        eps = eps_n + guidance * (eps_a - eps_n)
        at, ap = ac[tt], ac[tt - ratio] if tt - ratio >= 0 else ac[0]
        x0 = (x - (1 - at) ** 0.5 * eps) / at**0.5
        x = ap**0.5 * x0 + (1 - ap) ** 0.5 * eps

save(
    os.path.join("tests", "fixtures", "diffusion", "ddim_unet_tiny.safetensors"),
    {"in.noise": noise.float(), "in.mask": mask.float(), "in.masked": masked.float(), "in.ref": ref.float(), "in.audio": audio.float(), "out.latents": x.float()},
    {"steps": steps, "guidance": guidance, "frames": f},
)
print("wrote tests/fixtures/diffusion/ddim_unet_tiny.safetensors")
