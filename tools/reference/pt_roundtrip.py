"""PyTorch side of the checkpoint tests (src/io/torch-pt.ts).

make-fixture DIR   torch.save small checkpoints into DIR, with DIR/<name>.expected.json giving each
                   tensor's dtype, shape and contiguous little-endian bytes (hex): the reader's oracle.
check PT JSON      torch.load(PT, weights_only=True) a file our writer made and compare it with JSON
                   (written by the test): dtypes, shapes, bytes, key order, global_step, and that each
                   "half_of" pair equals torch's own f32 -> f16 rounding. Exit code 1 on any mismatch.

Run with Debian's /usr/bin/python3 (python3-torch). Tensors are tiny so fixtures stay a few KB.
"""
import json
import math
import os
import sys
from collections import OrderedDict

import torch

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64", torch.float64: "F64"}


def raw_hex(t):
    t = t.detach().contiguous()
    return t.view(torch.uint8).numpy().tobytes().hex() if t.dtype in (torch.bfloat16, torch.float16) else t.numpy().tobytes().hex()


def describe(sd):
    return {k: {"dtype": DTYPES[v.dtype], "shape": list(v.shape), "hex": raw_hex(v)} for k, v in sd.items()}


def write_expected(path, tensors, **extra):
    """One tensor per line, so a diff of a regenerated fixture stays readable."""
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in describe(tensors).items())
    head = "".join(f"{json.dumps(k)}: {json.dumps(v)}, " for k, v in extra.items())
    with open(path, "w") as f:
        f.write("{" + head + '"tensors": {\n' + body + "\n}}\n")


def rounding_cases():
    """f32 values that probe f32 -> f16 rounding: ties, subnormals, overflow, specials, random."""
    e = [1.0 + 2**-11, 1.0 + 3 * 2**-11, 1.0 + 2**-11 + 2**-23, 65504.0, 65519.0, 65519.996, 65520.0, 1e6,
         2**-14, 2**-24, 2**-25, 2**-25 + 2**-40, 3 * 2**-26, 5 * 2**-26, 2**-26, 2**-14 - 2**-25, 2**-14 - 2**-26,
         0.0, -0.0, math.inf, -math.inf, 0.1, -0.3333333, 1.5 * 2**-24, 2.5 * 2**-24]
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([1e-7, 1e-5, 1e-3, 1.0, 100.0, 3e4]).repeat_interleave(64)
    rand = torch.randn(len(scales), generator=g) * scales
    vals = torch.cat([torch.tensor(e + [-x for x in e], dtype=torch.float32), rand.float(), torch.tensor([math.nan])])
    return vals


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_in = torch.nn.Conv2d(2, 3, 3)
        self.norm = torch.nn.GroupNorm(1, 3)
        self.proj = torch.nn.Linear(3, 2)


def make_fixture(out_dir):
    torch.manual_seed(0)
    model = Tiny()
    sd = model.state_dict()  # an OrderedDict with _metadata: exercises BUILD on OrderedDict
    base = torch.arange(60, dtype=torch.float32).reshape(3, 4, 5) / 8
    sd["view.offset_strided"] = base[1:, 1:3, ::2]  # storage offset + non-contiguous strides
    sd["view.transposed"] = base[0].t()
    sd["view.expanded"] = torch.arange(5, dtype=torch.int64).expand(2, 5)  # stride 0, like a broadcast buffer
    sd["half.weight"] = (torch.arange(12, dtype=torch.float32).reshape(3, 4) / 7 - 0.5).half()
    sd["half.view"] = sd["half.weight"][:, 1::2]
    sd["bf16.weight"] = (torch.arange(6, dtype=torch.float32) * 1.37 - 2).bfloat16()
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 3)
    src = rounding_cases()
    sd["rounding.src"] = src
    sd["rounding.f16"] = src.half()
    path = os.path.join(out_dir, "torch_small.pt")
    torch.save({"global_step": 1234, "state_dict": sd}, path)
    write_expected(os.path.join(out_dir, "torch_small.expected.json"), sd, global_step=1234)

    # A bare dict of nn.Parameters (diffusers .bin style): exercises _rebuild_parameter.
    params = OrderedDict((k, torch.nn.Parameter(v.clone())) for k, v in model.state_dict().items())
    path = os.path.join(out_dir, "torch_params.pt")
    torch.save(params, path)
    write_expected(os.path.join(out_dir, "torch_params.expected.json"), params)


def check(pt_path, json_path):
    with open(json_path) as f:
        want = json.load(f)
    got = torch.load(pt_path, weights_only=True)
    problems = []
    if got.get("global_step") != want["global_step"]:
        problems.append(f"global_step {got.get('global_step')!r} != {want['global_step']!r}")
    sd = got["state_dict"]
    if not isinstance(sd, OrderedDict):
        problems.append(f"state_dict is {type(sd).__name__}, not OrderedDict")
    if list(sd.keys()) != list(want["tensors"].keys()):
        problems.append(f"keys {list(sd.keys())} != {list(want['tensors'].keys())}")
    for name, w in want["tensors"].items():
        t = sd.get(name)
        if t is None:
            continue
        if DTYPES.get(t.dtype) != w["dtype"] or list(t.shape) != w["shape"]:
            problems.append(f"{name}: {t.dtype} {list(t.shape)} != {w['dtype']} {w['shape']}")
        elif raw_hex(t) != w["hex"]:
            problems.append(f"{name}: bytes differ")
    for half_name, src_name in want.get("half_of", {}).items():
        ours, theirs = sd[half_name].view(torch.int16), sd[src_name].half().view(torch.int16)
        bad = (ours != theirs).nonzero().flatten().tolist()
        if bad:
            i = bad[0]
            problems.append(f"{half_name}: {len(bad)} halves differ from torch's rounding, first at {i}: "
                            f"f32 {sd[src_name][i].item()!r} -> ours {int(ours[i]) & 0xffff:#06x}, torch {int(theirs[i]) & 0xffff:#06x}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"ok: {len(sd)} tensors, global_step {got['global_step']}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make-fixture":
        make_fixture(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
