"""Trains the demo UNet in PyTorch on the CPU, with the lab's recipe, on the data `--stage dump` writes.

Why PyTorch: on SwiftShader the lab's own trainer takes 4-9 s a step at 16 px, and a mouth that follows the
audio needs thousands of steps; PyTorch on two CPU cores runs the same model (tools/reference/models.py, the
oracle the engine's goldens come from, key for key) in a fraction of a second a step. The file it writes is an
ordinary checkpoint the lab imports; `--stage check` and tests/unit/sync-demo.test.ts then measure it with the
lab's own inference. The recipe is src/train/unet-training.ts's: a window of `frames` consecutive frames, a
reference window elsewhere in the clip, one timestep per sample drawn uniformly from 1000, epsilon targets under
LatentSync's scaled_linear schedule, MSE, AdamW (betas 0.9/0.999, eps 1e-8, no weight decay), clip norm 1.
Two settings differ from the lab's earlier 2-frame demo run: 16-frame windows (LatentSync's num_frames, and the
sync pipeline's chunk), and the audio dropped to zeros for a tenth of the samples (TrainConfig.audioDropout),
so that zero audio, the sampler's unconditional input for classifier-free guidance, is something the model saw.

Run from the repository root (Debian's python3-torch):
  node ... tools/demo/train-demo-models.ts --stage dump --out /tmp/demo-data.safetensors
  /usr/bin/python3 tools/demo/train_demo_unet.py --data /tmp/demo-data.safetensors
"""
import argparse
import json
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
import st  # noqa: E402
from models import UNET_TINY, UNet3DConditionModel  # noqa: E402

UNET_FILE = "public/demo/demo-unet.safetensors"
MANIFEST = "public/demo/demo-models.json"
MAX_BYTES = 2 * 1024 * 1024


class AudioProjection(nn.Module):
    """src/nn/audio-projection.ts: tokens [..., T, in] -> Linear to the cross-attention width + a position embedding."""

    def __init__(self, in_dim, tokens, dim):
        super().__init__()
        self.proj = nn.Linear(in_dim, dim)
        self.position_embedding = nn.Parameter(torch.empty(tokens, dim).uniform_(-0.02, 0.02))

    def forward(self, x):
        return self.proj(x) + self.position_embedding


class DemoUnet(UNet3DConditionModel):
    """unet-tiny with the learned audio projection the engine builds for config.audio_feature_shape."""

    def __init__(self, cfg):
        super().__init__(cfg)
        tokens, width = cfg["audio_feature_shape"]
        self.audio_projection = AudioProjection(width, tokens, cfg["cross_attention_dim"])

    def forward(self, sample, timestep, audio):
        return super().forward(sample, timestep, self.audio_projection(audio))


def alphas_cumprod(n=1000, start=0.00085, end=0.012):
    betas = torch.linspace(start**0.5, end**0.5, n, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0)


def pick_windows(gen, frames_total, frames, batch):
    """src/train/sample.ts pickWindow: a start and a reference start at least `frames` away."""
    starts = frames_total - frames + 1
    out = []
    for _ in range(batch):
        s = int(torch.randint(starts, (1,), generator=gen))
        far = [r for r in range(starts) if abs(r - s) >= frames]
        r = far[int(torch.randint(len(far), (1,), generator=gen))] if far else int(torch.randint(starts, (1,), generator=gen))
        out.append((s, r))
    return out


def make_batch(data, picks, frames, abar, gen, audio_drop, t=None):
    lat, masked, mask, audio = data["latents"], data["masked_latents"], data["mask"], data["audio"]
    b = len(picks)
    idx = torch.tensor([[s + f for f in range(frames)] for s, _ in picks])
    ref = torch.tensor([[r + f for f in range(frames)] for _, r in picks])
    x0 = lat[idx]  # [B, F, C, h, w]
    t = torch.randint(1000, (b,), generator=gen) if t is None else t
    eps = torch.randn(x0.shape, generator=gen)
    a = abar[t].float().view(b, 1, 1, 1, 1)
    noisy = a.sqrt() * x0 + (1 - a).sqrt() * eps
    m = mask.expand(b, frames, 1, *mask.shape)
    x = torch.cat([noisy, m, masked[idx], lat[ref]], dim=2).permute(0, 2, 1, 3, 4)  # [B, 13, F, h, w]
    cond = audio[idx]  # [B, F, T, D]
    keep = (torch.rand(b, generator=gen) >= audio_drop).float().view(b, 1, 1, 1)
    return x, t, cond * keep, eps.permute(0, 2, 1, 3, 4)


@torch.no_grad()
def audio_gain(model, data, abar, frames, windows=8):
    """Does the model use the audio? Its loss on fixed samples (timesteps 300..700) with each frame's own audio
    and with audio from 50 frames away: the second is higher when the mouth it predicts comes from the audio."""
    gen = torch.Generator().manual_seed(7)
    n = data["latents"].shape[0]
    picks = pick_windows(gen, n, frames, windows)
    t = torch.linspace(300, 700, windows).long()
    x, _, _, eps = make_batch(data, picks, frames, abar, gen, 0.0, t)
    idx = torch.tensor([[s + f for f in range(frames)] for s, _ in picks])
    out = []
    for shift in (0, 50):
        pred = model(x, t, data["audio"][(idx + shift) % n])
        out.append(torch.nn.functional.mse_loss(pred, eps).item())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", help="the file `train-demo-models.ts --stage dump` writes")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--audio-drop", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1447)
    ap.add_argument("--out", default=UNET_FILE)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--golden", action="store_true", help="only write the parity golden of the committed file")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    if args.golden:
        return write_golden()
    if not args.data:
        ap.error("--data is required: write it with train-demo-models.ts --stage dump --out FILE")
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    data = st.load(args.data)
    n, c, h, w = data["latents"].shape
    tokens, width = data["audio"].shape[1:]
    cfg = dict(UNET_TINY, act_fn="silu", audio_feature_shape=[tokens, width])
    model = DemoUnet(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
    abar = alphas_cumprod()
    losses = []
    t0 = time.time()
    for step in range(args.steps):
        picks = pick_windows(gen, n, args.frames, args.batch)
        x, t, cond, eps = make_batch(data, picks, args.frames, abar, gen, args.audio_drop)
        loss = torch.nn.functional.mse_loss(model(x, t, cond), eps)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if step % 100 == 0 or step == args.steps - 1:
            recent = losses[-100:]
            print(f"step {step + 1}/{args.steps} loss {loss.item():.4f} (mean of last {len(recent)} {sum(recent) / len(recent):.4f}) {(time.time() - t0) / (step + 1):.3f} s/step", flush=True)
        if (step + 1) % args.eval_every == 0:
            right, wrong = audio_gain(model, data, abar, args.frames)
            print(f"  audio check: loss with the frames' own audio {right:.4f}, with audio from 50 frames away {wrong:.4f}", flush=True)
    seconds = (time.time() - t0) / args.steps
    save(model, cfg, args, losses, seconds)


def save(model, cfg, args, losses, seconds):
    sd = {k: v.detach().float() for k, v in model.state_dict().items()}
    size = sum(v.numel() for v in sd.values()) * 4
    dtype = "F16" if size > 1.5 * 1024 * 1024 else "F32"
    if dtype == "F16":
        sd = {k: v.half() for k, v in sd.items()}
    # the committed file's config (the engine's defaults spelled out), with this run's shapes over it
    base = json.loads(st.metadata(UNET_FILE).get("config", "{}")) if os.path.exists(UNET_FILE) else {}
    engine_cfg = {**base, **cfg}
    train_config = {"trainer": "tools/demo/train_demo_unet.py (PyTorch " + torch.__version__ + ", CPU)", "frames": args.frames, "batch": args.batch,
                    "lr": args.lr, "betas": [0.9, 0.999], "eps": 1e-8, "weightDecay": 0, "clipNorm": 1, "seed": args.seed, "audioDrop": args.audio_drop,
                    "preset": "unet-tiny", "resolution": 16, "audioTokens": cfg["audio_feature_shape"][0], "audioDim": cfg["audio_feature_shape"][1], "vaePreset": "vae-tiny"}
    meta = {"format": "latent-lab/1", "config": json.dumps(engine_cfg, separators=(",", ":")), "train_config": json.dumps(train_config, separators=(",", ":")),
            "preset": "unet-tiny", "step": str(args.steps), "trained_on": "public/demo/demo.mp4", "dtype": dtype}
    tmp = args.out + ".tmp"
    st.save(tmp, sd, meta)
    if os.path.getsize(tmp) > MAX_BYTES:
        os.remove(tmp)
        raise SystemExit(f"{args.out} would be over {MAX_BYTES} bytes")
    os.replace(tmp, args.out)
    print(f"saved {args.out} ({os.path.getsize(args.out)} bytes, {dtype}), {args.steps} steps, {seconds:.3f} s/step")
    if args.out == UNET_FILE:  # the committed model: its manifest entry and parity golden follow it
        update_manifest(args, dtype, os.path.getsize(args.out), losses, seconds)
        write_golden()


GOLDEN = "tests/fixtures/models/demo_unet.io.safetensors"


@torch.no_grad()
def write_golden():
    """The committed file's forward in float64 on a seeded input (4 frames, log-mel-like audio), so that a test
    shows the lab computes what PyTorch does with exactly these weights (audio projection included)."""
    cfg = json.loads(st.metadata(UNET_FILE)["config"])
    model = DemoUnet(dict(UNET_TINY, audio_feature_shape=cfg["audio_feature_shape"])).double()
    model.load_state_dict({k: v.double() for k, v in st.load(UNET_FILE).items()})
    gen = torch.Generator().manual_seed(11)
    tokens, width = cfg["audio_feature_shape"]
    sample = torch.randn(1, 13, 4, 8, 8, generator=gen, dtype=torch.float64)
    audio = torch.randn(1, 4, tokens, width, generator=gen, dtype=torch.float64) * 2 - 4
    timestep = torch.tensor([500.0], dtype=torch.float64)
    out = model(sample, timestep, audio)
    st.save(GOLDEN, {"in.sample": sample.float(), "in.timestep": timestep.float(), "in.audio": audio.float(), "out.sample": out.float()},
            {"weights": UNET_FILE, "torch": torch.__version__})
    print(f"golden: {GOLDEN} (out.sample std {out.std().item():.4f})")


def update_manifest(args, dtype, nbytes, losses, seconds):
    m = json.load(open(MANIFEST))
    u = m["unet"]
    mean = lambda a: sum(a) / max(1, len(a))  # noqa: E731
    every = max(1, len(losses) // 400)  # a curve of at most ~400 points: the mean of each run of `every` steps
    curve = [float(f"{mean(losses[i:i + every]):.4g}") for i in range(0, len(losses), every)]
    u.update({"frames": args.frames, "batch": args.batch, "audioDropout": args.audio_drop, "dtype": dtype, "bytes": nbytes, "stepsTrained": args.steps, "lr": args.lr,
              "trainer": "PyTorch (tools/demo/train_demo_unet.py): the lab's recipe with 16-frame windows and 10% zero-audio samples",
              "finalLoss": float(f"{mean(losses[-100:]):.4g}"),
              "loss": {"first10": mean(losses[:10]), "last10": mean(losses[-10:]), "curve": curve, "curveEvery": every},
              "secondsPerStep": round(seconds, 3)})
    for k in ("resumedAt", "check"):
        u.pop(k, None)
    tmp = MANIFEST + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(m, indent=2) + "\n")
    os.replace(tmp, MANIFEST)


if __name__ == "__main__":
    main()
