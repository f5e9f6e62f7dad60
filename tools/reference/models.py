"""Pure-PyTorch reference versions of AutoencoderKL and LatentSync's stage-1 UNet (motion modules off).

No diffusers: the modules below are written from diffusers' and LatentSync's published structure so that
`state_dict()` keys, shapes and forward math match theirs key for key. They are the oracle for
tests/unit/models-*.test.ts (see make_model_goldens.py) and run on Debian's python3-torch 1.13.

Configs are dicts with diffusers' config JSON field names (in_channels, block_out_channels, ...).

LatentSync's UNet takes [B, C, F, H, W]. Here it is folded to [B*F, C, H, W] with `num_frames` carried:
convolutions, attention and the transformer's GroupNorm run per frame, while the resnet GroupNorms
(norm1, norm2) and conv_norm_out pool their statistics over the F frames of a sample, as nn.GroupNorm on
LatentSync's 5-D tensor does (use_inflated_groupnorm is off in every LatentSync config).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


# ---------------------------------------------------------------------------------------------------------
# Shared pieces


class FrameGroupNorm(nn.GroupNorm):
    """nn.GroupNorm whose statistics pool the `num_frames` adjacent rows of a folded [B*F, C, H, W] batch."""

    def forward(self, x, num_frames=1):
        if num_frames == 1:
            return super().forward(x)
        n, c, h, w = x.shape
        b = n // num_frames
        # [B*F, C, H, W] -> [B, C, F, H, W]: the 5-D tensor LatentSync normalizes.
        x5 = x.reshape(b, num_frames, c, h, w).permute(0, 2, 1, 3, 4)
        y5 = F.group_norm(x5, self.num_groups, self.weight, self.bias, self.eps)
        return y5.permute(0, 2, 1, 3, 4).reshape(n, c, h, w)


class ResnetBlock2D(nn.Module):
    """diffusers' ResnetBlock2D (time_embedding_norm 'default', output_scale_factor 1, silu)."""

    def __init__(self, in_channels, out_channels, temb_channels, groups, eps):
        super().__init__()
        self.norm1 = FrameGroupNorm(groups, in_channels, eps=eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        if temb_channels is not None:
            self.time_emb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = FrameGroupNorm(groups, out_channels, eps=eps)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1)
        self.has_temb = temb_channels is not None
        self.has_shortcut = in_channels != out_channels

    def forward(self, x, temb=None, num_frames=1):
        h = self.conv1(F.silu(self.norm1(x, num_frames)))
        if self.has_temb:
            t = self.time_emb_proj(F.silu(temb))  # [B, C]: one per sample, shared by its frames
            h = h + t.repeat_interleave(num_frames, dim=0)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h, num_frames)))
        if self.has_shortcut:
            x = self.conv_shortcut(x)
        return x + h


class Downsample2D(nn.Module):
    """Conv with stride 2. padding 0 is the VAE's: the input is padded (0, 1, 0, 1) first (asymmetric)."""

    def __init__(self, channels, padding):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=padding)

    def forward(self, x):
        if self.padding == 0:
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def attend(q, k, v, heads, scale):
    """softmax(q k^T * scale) v over [B, N, H*D] tokens, split into heads."""
    b, nq, inner = q.shape
    d = inner // heads
    q = q.reshape(b, nq, heads, d).transpose(1, 2)
    k = k.reshape(b, k.shape[1], heads, d).transpose(1, 2)
    v = v.reshape(b, v.shape[1], heads, d).transpose(1, 2)
    w = torch.softmax(q @ k.transpose(-1, -2) * scale, dim=-1)
    return (w @ v).transpose(1, 2).reshape(b, nq, inner)


class Attention(nn.Module):
    """diffusers' Attention as BasicTransformerBlock uses it: to_q/to_k/to_v (no bias), to_out.0 (bias)."""

    def __init__(self, query_dim, heads, dim_head, cross_attention_dim=None, bias=False):
        super().__init__()
        inner = heads * dim_head
        kv_dim = cross_attention_dim or query_dim
        self.heads, self.scale = heads, dim_head ** -0.5
        self.to_q = nn.Linear(query_dim, inner, bias=bias)
        self.to_k = nn.Linear(kv_dim, inner, bias=bias)
        self.to_v = nn.Linear(kv_dim, inner, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim)])

    def forward(self, x, context=None):
        context = x if context is None else context
        out = attend(self.to_q(x), self.to_k(context), self.to_v(context), self.heads, self.scale)
        return self.to_out[0](out)


# ---------------------------------------------------------------------------------------------------------
# AutoencoderKL


class VaeAttention(nn.Module):
    """The VAE mid-block attention: GroupNorm, one head over all channels, residual (diffusers' Attention
    with _from_deprecated_attn_block; the older spelling was query/key/value/proj_attn)."""

    def __init__(self, channels, groups):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])

    def forward(self, x):
        n, c, h, w = x.shape
        t = self.group_norm(x).reshape(n, c, h * w).transpose(1, 2)
        out = attend(self.to_q(t), self.to_k(t), self.to_v(t), 1, c ** -0.5)
        out = self.to_out[0](out).transpose(1, 2).reshape(n, c, h, w)
        return out + x


class VaeMidBlock(nn.Module):
    def __init__(self, channels, groups):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, None, groups, 1e-6) for _ in range(2)])
        self.attentions = nn.ModuleList([VaeAttention(channels, groups)])

    def forward(self, x):
        x = self.resnets[0](x)
        x = self.attentions[0](x)
        return self.resnets[1](x)


class EncoderBlock(nn.Module):
    """DownEncoderBlock2D."""

    def __init__(self, cin, cout, layers, groups, downsample):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, None, groups, 1e-6) for i in range(layers)])
        if downsample:
            self.downsamplers = nn.ModuleList([Downsample2D(cout, padding=0)])
        self.downsample = downsample

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        return self.downsamplers[0](x) if self.downsample else x


class DecoderBlock(nn.Module):
    """UpDecoderBlock2D."""

    def __init__(self, cin, cout, layers, groups, upsample):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, None, groups, 1e-6) for i in range(layers)])
        if upsample:
            self.upsamplers = nn.ModuleList([Upsample2D(cout)])
        self.upsample = upsample

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        return self.upsamplers[0](x) if self.upsample else x


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, groups, layers = cfg["block_out_channels"], cfg["norm_num_groups"], cfg["layers_per_block"]
        self.conv_in = nn.Conv2d(cfg["in_channels"], ch[0], 3, padding=1)
        self.down_blocks = nn.ModuleList(
            [EncoderBlock(ch[max(i - 1, 0)], ch[i], layers, groups, i < len(ch) - 1) for i in range(len(ch))]
        )
        self.mid_block = VaeMidBlock(ch[-1], groups)
        self.conv_norm_out = nn.GroupNorm(groups, ch[-1], eps=1e-6)
        self.conv_out = nn.Conv2d(ch[-1], 2 * cfg["latent_channels"], 3, padding=1)

    def forward(self, x):
        x = self.conv_in(x)
        for b in self.down_blocks:
            x = b(x)
        x = self.mid_block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, groups, layers = cfg["block_out_channels"], cfg["norm_num_groups"], cfg["layers_per_block"]
        rev = list(reversed(ch))
        self.conv_in = nn.Conv2d(cfg["latent_channels"], ch[-1], 3, padding=1)
        self.mid_block = VaeMidBlock(ch[-1], groups)
        self.up_blocks = nn.ModuleList(
            [DecoderBlock(rev[max(i - 1, 0)], rev[i], layers + 1, groups, i < len(ch) - 1) for i in range(len(ch))]
        )
        self.conv_norm_out = nn.GroupNorm(groups, ch[0], eps=1e-6)
        self.conv_out = nn.Conv2d(ch[0], cfg["out_channels"], 3, padding=1)

    def forward(self, z):
        x = self.mid_block(self.conv_in(z))
        for b in self.up_blocks:
            x = b(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class AutoencoderKL(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        lat = cfg["latent_channels"]
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quant_conv = nn.Conv2d(2 * lat, 2 * lat, 1)
        self.post_quant_conv = nn.Conv2d(lat, lat, 1)

    def encode(self, images):
        """-> (mean, logvar) of the diagonal Gaussian, logvar clamped to [-30, 20] (before scaling_factor)."""
        moments = self.quant_conv(self.encoder(images))
        mean, logvar = moments.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    @staticmethod
    def sample(mean, logvar, noise):
        return mean + torch.exp(0.5 * logvar) * noise

    def decode(self, latents):
        return self.decoder(self.post_quant_conv(latents))


# ---------------------------------------------------------------------------------------------------------
# UNet (LatentSync stage 1 = UNet2DConditionModel structure with frame-pooled resnet GroupNorms)


def timestep_embedding(t, dim, flip_sin_to_cos, freq_shift, max_period=10000):
    """diffusers' get_timestep_embedding, in float32 as diffusers computes it (whatever the model's dtype)."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32) / (half - freq_shift)
    args = t.float()[:, None] * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    if dim % 2 == 1:
        emb = F.pad(emb, (0, 1))
    return emb


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1 = nn.Linear(cin, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        # net.1 is a Dropout in diffusers: it has no parameters, so index 1 is left empty here.
        self.net = nn.ModuleList([GEGLU(dim, 4 * dim), nn.Identity(), nn.Linear(4 * dim, dim)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, dim_head, cross_attention_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads, dim_head)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, dim_head, cross_attention_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x, context):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class Transformer2DModel(nn.Module):
    """use_linear_projection False: proj_in/proj_out are 1x1 convs; its GroupNorm runs per frame."""

    def __init__(self, channels, heads, cross_attention_dim, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(channels, heads, channels // heads, cross_attention_dim)])
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x, context):
        n, c, h, w = x.shape
        t = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(n, h * w, c)
        for blk in self.transformer_blocks:
            t = blk(t, context)
        t = t.reshape(n, h, w, c).permute(0, 3, 1, 2)
        return self.proj_out(t) + x


class DownBlock(nn.Module):
    """CrossAttnDownBlock2D (cross=True) or DownBlock2D."""

    def __init__(self, cin, cout, temb, layers, cfg, cross, downsample):
        super().__init__()
        g, eps = cfg["norm_num_groups"], cfg["norm_eps"]
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, temb, g, eps) for i in range(layers)])
        if cross:
            self.attentions = nn.ModuleList(
                [Transformer2DModel(cout, cfg["attention_head_dim"], cfg["cross_attention_dim"], g) for _ in range(layers)]
            )
        if downsample:
            self.downsamplers = nn.ModuleList([Downsample2D(cout, padding=1)])
        self.cross, self.downsample = cross, downsample

    def forward(self, x, temb, context, num_frames):
        skips = []
        for i, r in enumerate(self.resnets):
            x = r(x, temb, num_frames)
            if self.cross:
                x = self.attentions[i](x, context)
            skips.append(x)
        if self.downsample:
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, skips


class UpBlock(nn.Module):
    """CrossAttnUpBlock2D (cross=True) or UpBlock2D: each resnet takes the previous output and one skip."""

    def __init__(self, cin, cout, prev, temb, layers, cfg, cross, upsample):
        super().__init__()
        g, eps = cfg["norm_num_groups"], cfg["norm_eps"]
        res = []
        for i in range(layers):
            skip = cin if i == layers - 1 else cout
            res.append(ResnetBlock2D((prev if i == 0 else cout) + skip, cout, temb, g, eps))
        self.resnets = nn.ModuleList(res)
        if cross:
            self.attentions = nn.ModuleList(
                [Transformer2DModel(cout, cfg["attention_head_dim"], cfg["cross_attention_dim"], g) for _ in range(layers)]
            )
        if upsample:
            self.upsamplers = nn.ModuleList([Upsample2D(cout)])
        self.cross, self.upsample = cross, upsample

    def forward(self, x, skips, temb, context, num_frames):
        for i, r in enumerate(self.resnets):
            x = r(torch.cat([x, skips.pop()], dim=1), temb, num_frames)
            if self.cross:
                x = self.attentions[i](x, context)
        return self.upsamplers[0](x) if self.upsample else x


class MidBlock(nn.Module):
    """UNetMidBlock2DCrossAttn."""

    def __init__(self, ch, temb, cfg):
        super().__init__()
        g, eps = cfg["norm_num_groups"], cfg["norm_eps"]
        self.resnets = nn.ModuleList([ResnetBlock2D(ch, ch, temb, g, eps) for _ in range(2)])
        self.attentions = nn.ModuleList([Transformer2DModel(ch, cfg["attention_head_dim"], cfg["cross_attention_dim"], g)])

    def forward(self, x, temb, context, num_frames):
        x = self.resnets[0](x, temb, num_frames)
        x = self.attentions[0](x, context)
        return self.resnets[1](x, temb, num_frames)


class UNet3DConditionModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, layers = cfg["block_out_channels"], cfg["layers_per_block"]
        temb = ch[0] * 4
        self.cfg = cfg
        self.conv_in = nn.Conv2d(cfg["in_channels"], ch[0], 3, padding=1)
        self.time_embedding = TimestepEmbedding(ch[0], temb)
        self.down_blocks = nn.ModuleList()
        for i, kind in enumerate(cfg["down_block_types"]):
            cin = ch[max(i - 1, 0)]
            cross = kind.startswith("CrossAttn")
            self.down_blocks.append(DownBlock(cin, ch[i], temb, layers, cfg, cross, i < len(ch) - 1))
        self.mid_block = MidBlock(ch[-1], temb, cfg)
        rev = list(reversed(ch))
        self.up_blocks = nn.ModuleList()
        for i, kind in enumerate(cfg["up_block_types"]):
            cross = kind.startswith("CrossAttn")
            prev, cout, cin = rev[max(i - 1, 0)], rev[i], rev[min(i + 1, len(ch) - 1)]
            self.up_blocks.append(UpBlock(cin, cout, prev, temb, layers + 1, cfg, cross, i < len(ch) - 1))
        self.conv_norm_out = FrameGroupNorm(cfg["norm_num_groups"], ch[0], eps=cfg["norm_eps"])
        self.conv_out = nn.Conv2d(ch[0], cfg["out_channels"], 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states):
        """sample [B, C, F, H, W], timestep [B], encoder_hidden_states [B, F, T, D] -> [B, C_out, F, H, W]."""
        b, c, f, h, w = sample.shape
        x = sample.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
        context = encoder_hidden_states.reshape(b * f, *encoder_hidden_states.shape[2:])
        t = timestep_embedding(timestep, self.cfg["block_out_channels"][0], self.cfg["flip_sin_to_cos"], self.cfg["freq_shift"])
        temb = self.time_embedding(t.to(x.dtype))

        x = self.conv_in(x)
        skips = [x]
        for blk in self.down_blocks:
            x, s = blk(x, temb, context, f)
            skips += s
        x = self.mid_block(x, temb, context, f)
        for blk in self.up_blocks:
            n = len(blk.resnets)
            mine, skips = skips[-n:], skips[:-n]
            x = blk(x, mine, temb, context, f)
        x = self.conv_out(F.silu(self.conv_norm_out(x, f)))
        return x.reshape(b, f, -1, h, w).permute(0, 2, 1, 3, 4)


# ---------------------------------------------------------------------------------------------------------
# Configs (diffusers' config JSON field names)

SD_VAE_FT_MSE = {
    "_class_name": "AutoencoderKL",
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "act_fn": "silu",
    "sample_size": 256,
    "scaling_factor": 0.18215,
}

LATENTSYNC_STAGE1 = {
    "_class_name": "UNet3DConditionModel",
    "in_channels": 13,
    "out_channels": 4,
    "block_out_channels": [320, 640, 1280, 1280],
    "down_block_types": ["CrossAttnDownBlock3D"] * 3 + ["DownBlock3D"],
    "up_block_types": ["UpBlock3D"] + ["CrossAttnUpBlock3D"] * 3,
    "layers_per_block": 2,
    "cross_attention_dim": 384,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "sample_size": 32,
}

# Tiny configs for goldens: every block type, SwiftShader-sized.
VAE_TINY = dict(SD_VAE_FT_MSE, block_out_channels=[16, 32], down_block_types=["DownEncoderBlock2D"] * 2,
                up_block_types=["UpDecoderBlock2D"] * 2, layers_per_block=1, norm_num_groups=8, sample_size=16)
UNET_TINY = dict(LATENTSYNC_STAGE1, block_out_channels=[32, 64], down_block_types=["CrossAttnDownBlock3D", "DownBlock3D"],
                 up_block_types=["UpBlock3D", "CrossAttnUpBlock3D"], layers_per_block=1, cross_attention_dim=16,
                 attention_head_dim=2, norm_num_groups=8, sample_size=8)


if __name__ == "__main__":
    # Parameter counts of the real configs (a sanity check against the published numbers).
    for name, cfg, cls in [("sd-vae-ft-mse", SD_VAE_FT_MSE, AutoencoderKL), ("latentsync-stage1", LATENTSYNC_STAGE1, UNet3DConditionModel),
                           ("vae-tiny", VAE_TINY, AutoencoderKL), ("unet-tiny", UNET_TINY, UNet3DConditionModel)]:
        m = cls(cfg)
        print(name, sum(p.numel() for p in m.parameters()), len(m.state_dict()))
