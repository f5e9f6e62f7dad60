"""Writes tests/fixtures/models/: weights, inputs, outputs and gradients of the tiny AutoencoderKL and UNet.

Run from the repo root with Debian's python3 (torch 1.13):  /usr/bin/python3 tools/reference/make_model_goldens.py

Weights are torch's default init with the norm affines perturbed (so their gradients and effects are
exercised), rounded to f16 and stored as F16 to keep the fixtures small; every computation then runs in
float64 on those exact values, so the goldens carry no rounding of their own. The time embedding's
sinusoids are computed in float32 as diffusers does.

Files (names in the weights files are diffusers' state_dict keys):
  vae_tiny.config.json, vae_tiny.weights.safetensors, vae_tiny.legacy.safetensors (the same weights with
  the old attention spelling query/key/value/proj_attn and [C, C, 1, 1] weights), vae_tiny.io.safetensors
  (in.images -> out.mean, out.logvar; in.noise -> out.latent_sample; in.latents -> out.sample)
  unet_tiny.config.json, unet_tiny.weights.safetensors, unet_tiny.io.safetensors (in.sample [B, 13, F, H, W],
  in.timestep [B], in.encoder_hidden_states [B, F, T, D], in.target -> out.sample, out.loss),
  unet_tiny.grads.{up,rest}.safetensors (grad.<name> of mse(out.sample, in.target) for every parameter;
  split in two, up_blocks and the rest, to keep each fixture under 2 MB)
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from models import UNET_TINY, VAE_TINY, AutoencoderKL, UNet3DConditionModel  # noqa: E402
from st import save  # noqa: E402

OUT = os.path.join("tests", "fixtures", "models")


def prepare(model, seed):
    """Default init, norm affines perturbed, every value rounded to f16; then float64 for the math."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn_like(p))
            p.copy_(p.half().float())
    return model.double()


def f16_state(model):
    return {k: v.half() for k, v in model.state_dict().items()}


def legacy_vae_state(state):
    """diffusers < 0.14 spelling of the VAE attention, with 1x1-conv-shaped weights as some converters wrote."""
    renames = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
    out = {}
    for k, v in state.items():
        for new, old in renames.items():
            if f".attentions.0.{new}." in k:
                k = k.replace(f".attentions.0.{new}.", f".attentions.0.{old}.")
                if k.endswith(".weight"):
                    v = v[:, :, None, None]
        out[k] = v
    return out


def write_config(name, cfg):
    with open(os.path.join(OUT, f"{name}.config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


def vae_goldens():
    model = prepare(AutoencoderKL(VAE_TINY), seed=1)
    g = torch.Generator().manual_seed(11)
    images = (torch.rand(2, 3, 16, 16, generator=g) * 2 - 1).double()
    latents = torch.randn(2, 4, 8, 8, generator=g).double()
    noise = torch.randn(2, 4, 8, 8, generator=g).double()
    with torch.no_grad():
        mean, logvar = model.encode(images)
        latent_sample = model.sample(mean, logvar, noise)
        sample = model.decode(latents)
    write_config("vae_tiny", VAE_TINY)
    state = f16_state(model)
    save(os.path.join(OUT, "vae_tiny.weights.safetensors"), state, {"format": "pt"})
    save(os.path.join(OUT, "vae_tiny.legacy.safetensors"), legacy_vae_state(state), {"format": "pt"})
    save(
        os.path.join(OUT, "vae_tiny.io.safetensors"),
        {
            "in.images": images.float(), "out.mean": mean.float(), "out.logvar": logvar.float(),
            "in.noise": noise.float(), "out.latent_sample": latent_sample.float(),
            "in.latents": latents.float(), "out.sample": sample.float(),
        },
        {"config": VAE_TINY},
    )


def unet_goldens():
    model = prepare(UNet3DConditionModel(UNET_TINY), seed=2)
    g = torch.Generator().manual_seed(12)
    b, f, h, w, t = 2, 3, 8, 8, 4
    sample = torch.randn(b, UNET_TINY["in_channels"], f, h, w, generator=g).double()
    timestep = torch.tensor([17, 503], dtype=torch.int64)
    context = torch.randn(b, f, t, UNET_TINY["cross_attention_dim"], generator=g).double()
    target = torch.randn(b, UNET_TINY["out_channels"], f, h, w, generator=g).double()
    out = model(sample, timestep, context)
    loss = torch.mean((out - target) ** 2)
    loss.backward()
    write_config("unet_tiny", UNET_TINY)
    save(os.path.join(OUT, "unet_tiny.weights.safetensors"), f16_state(model), {"format": "pt"})
    save(
        os.path.join(OUT, "unet_tiny.io.safetensors"),
        {
            "in.sample": sample.float(), "in.timestep": timestep, "in.encoder_hidden_states": context.float(),
            "in.target": target.float(), "out.sample": out.detach().float(), "out.loss": loss.detach().float().reshape(1),
        },
        {"config": UNET_TINY, "num_frames": f},
    )
    grads = {f"grad.{k}": p.grad.float() for k, p in model.named_parameters()}
    up = {k: v for k, v in grads.items() if k.startswith("grad.up_blocks.")}
    save(os.path.join(OUT, "unet_tiny.grads.up.safetensors"), up)
    save(os.path.join(OUT, "unet_tiny.grads.rest.safetensors"), {k: v for k, v in grads.items() if k not in up})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    vae_goldens()
    unet_goldens()
    for f in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(os.path.join(OUT, f)):>10}  {f}")
