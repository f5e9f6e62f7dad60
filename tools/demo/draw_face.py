"""Synthetic talking face for the demo clip: a drawn face whose mouth opening follows speech loudness.

Two steps, so that ffmpeg can open the finished audio before frames start streaming:
  draw_face.py prepare --speech in.wav --padded out.wav --json mouth.json --size WxH --fps N [--vfr]
      pads the espeak-ng speech with silence to a whole number of frames, writes it, and writes the
      per-frame mouth opening (the lip-sync ground truth) with the clip's geometry.
  draw_face.py render --padded out.wav --size WxH --fps N  >  raw rgb24 frames on stdout
      draws every frame at the constant rate N (a VFR clip drops frames later, in ffmpeg).

Everything is computed from the 16-bit PCM samples with numpy in float64 and rounded once to uint8,
so the same inputs give the same frames byte for byte. Standard library + numpy only.
"""
import argparse
import json
import sys
import wave

import numpy as np

LEAD_S = 0.4  # silence before the speech: the clip starts with a closed mouth
TAIL_S = 0.3  # and ends with one

# Face layout in units of the square canvas side S = min(width, height), centred in the frame.
MOUTH_CX, MOUTH_CY = 0.5, 0.72
MOUTH_HALF_W = 0.095  # half width of the closed mouth
MOUTH_NARROW = 0.015  # an open mouth is a little narrower
MOUTH_MAX_OPEN = 0.06  # half height of the dark opening when fully open
LIP = 0.02  # lip thickness around the opening


def read_wav(path):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise SystemExit(f"{path}: expected 16-bit mono PCM")
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm, rate


def write_wav(path, pcm, rate):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def pad_speech(pcm, rate, fps):
    """Lead and tail silence, then zeros up to a whole number of video frames."""
    lead = np.zeros(int(round(LEAD_S * rate)), np.int16)
    body = np.concatenate([lead, pcm, np.zeros(int(round(TAIL_S * rate)), np.int16)])
    n_frames = int(np.ceil(len(body) * fps / rate))
    total = int(round(n_frames * rate / fps))
    return np.concatenate([body, np.zeros(max(0, total - len(body)), np.int16)]), n_frames


def mouth_envelope(pcm, rate, fps, n_frames):
    """Mouth opening 0..1 per frame: RMS of the samples shown during frame i, i.e. [i/fps, (i+1)/fps),
    divided by the 95th percentile of the voiced frames, with a noise gate and a square root so
    that quiet syllables still open the mouth visibly."""
    x = pcm.astype(np.float64) / 32768.0
    rms = np.zeros(n_frames)
    for i in range(n_frames):
        a, b = int(round(i * rate / fps)), int(round((i + 1) * rate / fps))
        seg = x[a:b]
        rms[i] = np.sqrt(np.mean(seg * seg)) if len(seg) else 0.0
    voiced = rms[rms > 0.01 * rms.max()] if rms.max() > 0 else rms
    ref = np.percentile(voiced, 95) if len(voiced) else 1.0
    gate = 0.04 * ref
    opening = np.clip((rms - gate) / (ref - gate), 0.0, 1.0)
    return np.sqrt(opening)


def parse_size(s):
    w, h = s.lower().split("x")
    return int(w), int(h)


def canvas(width, height):
    """Side of the square face canvas and its top-left offset in the frame."""
    side = min(width, height)
    return side, (width - side) / 2.0, (height - side) / 2.0


def mouth_box(width, height):
    """Pixel box [x, y, w, h] that holds the mouth at every opening (lips included)."""
    side, ox, oy = canvas(width, height)
    half_h = MOUTH_MAX_OPEN + LIP
    x0 = int(np.floor(ox + (MOUTH_CX - MOUTH_HALF_W - LIP) * side)) - 1
    x1 = int(np.ceil(ox + (MOUTH_CX + MOUTH_HALF_W + LIP) * side)) + 1
    y0 = int(np.floor(oy + (MOUTH_CY - half_h) * side)) - 1
    y1 = int(np.ceil(oy + (MOUTH_CY + half_h) * side)) + 1
    return [max(0, x0), max(0, y0), min(width, x1) - max(0, x0), min(height, y1) - max(0, y0)]


def vfr_keep(n):
    """Frames kept in the variable-frame-rate clip: all of the first half, every other one after.
    scripts/make-demo-clip.sh applies the same rule with ffmpeg's select filter."""
    return [i for i in range(n) if i < n // 2 or i % 2 == 0]


def cmd_prepare(args):
    pcm, rate = read_wav(args.speech)
    padded, n_frames = pad_speech(pcm, rate, args.fps)
    write_wav(args.padded, padded, rate)
    opening = mouth_envelope(padded, rate, args.fps, n_frames)
    width, height = parse_size(args.size)
    frames = vfr_keep(n_frames) if args.vfr else list(range(n_frames))
    out = {
        "description": "Synthetic talking face (scripts/make-demo-clip.sh). mouth_open[i] is the mouth "
        "opening 0..1 drawn in frame i: RMS loudness of the speech in [t_i, t_i + 1/fps), gated "
        "and normalized. mouth_box is [x, y, w, h] in pixels and holds the mouth at any opening.",
        "width": width,
        "height": height,
        "fps": args.fps,
        "variable_frame_rate": bool(args.vfr),
        "frame_count": len(frames),
        "duration_s": round(n_frames / args.fps, 6),
        "audio_sample_rate": args.audio_rate or None,  # null: the clip has no audio track
        "speech_sample_rate": rate,
        "mouth_box": mouth_box(width, height),
        "mouth_open": [round(float(opening[i]), 4) for i in frames],
    }
    if args.vfr:
        out["frame_times_s"] = [round(i / args.fps, 6) for i in frames]
    if args.text:
        out["text"] = args.text
    with open(args.json, "w") as f:  # one key per line, arrays kept on one line
        f.write("{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in out.items()) + "\n}\n")
    print(n_frames)  # frames to render at the constant rate: the shell script needs it for VFR


class Painter:
    """Antialiased shapes: coverage from an approximate signed distance to each ellipse."""

    def __init__(self, width, height):
        self.side, ox, oy = canvas(width, height)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
        # pixel centres in canvas units
        self.x = (xs + 0.5 - ox) / self.side
        self.y = (ys + 0.5 - oy) / self.side
        self.ox, self.oy = ox, oy

    def window(self, x0, y0, x1, y1):
        """Painter and pixel slices for the canvas box [x0,x1)x[y0,y1): per-frame parts are small."""
        h, w = self.x.shape
        c0 = max(0, int(np.floor(self.ox + x0 * self.side)))
        c1 = min(w, int(np.ceil(self.ox + x1 * self.side)))
        r0 = max(0, int(np.floor(self.oy + y0 * self.side)))
        r1 = min(h, int(np.ceil(self.oy + y1 * self.side)))
        sub = Painter.__new__(Painter)
        sub.side, sub.ox, sub.oy = self.side, self.ox, self.oy
        sub.x, sub.y = self.x[r0:r1, c0:c1], self.y[r0:r1, c0:c1]
        return sub, (slice(r0, r1), slice(c0, c1))

    def ellipse(self, cx, cy, a, b):
        dx, dy = self.x - cx, self.y - cy
        f = (dx / a) ** 2 + (dy / b) ** 2 - 1.0
        grad = 2.0 * np.sqrt((dx / a**2) ** 2 + (dy / b**2) ** 2) + 1e-12
        dist_px = f / grad * self.side
        return np.clip(0.5 - dist_px, 0.0, 1.0)

    def rect(self, x0, y0, x1, y1):
        cov_x = np.clip(np.minimum(self.x - x0, x1 - self.x) * self.side + 0.5, 0.0, 1.0)
        cov_y = np.clip(np.minimum(self.y - y0, y1 - self.y) * self.side + 0.5, 0.0, 1.0)
        return cov_x * cov_y


def paint(img, cov, rgb):
    img += cov[..., None] * (np.asarray(rgb, np.float64) - img)


SKIN, SKIN_SHADE = (226, 184, 150), (205, 158, 124)
HAIR, SHIRT = (70, 45, 30), (60, 110, 160)
LIPS, MOUTH_IN, TEETH = (180, 70, 80), (70, 20, 30), (240, 236, 226)


def static_face(p, width, height):
    """Everything but the eyes and the mouth: drawn once per clip."""
    img = np.empty((height, width, 3))
    img[:] = (40 + 30 * np.clip(p.y, 0, 1))[..., None] * np.array([1.0, 1.15, 1.5])  # soft backdrop
    paint(img, p.ellipse(0.5, 1.15, 0.46, 0.24), SHIRT)
    paint(img, p.rect(0.42, 0.75, 0.58, 0.97), SKIN_SHADE)  # neck
    paint(img, p.ellipse(0.5, 0.43, 0.34, 0.36), HAIR)
    paint(img, p.ellipse(0.195, 0.53, 0.04, 0.07), SKIN)  # ears
    paint(img, p.ellipse(0.805, 0.53, 0.04, 0.07), SKIN)
    paint(img, p.ellipse(0.5, 0.54, 0.30, 0.37), SKIN)
    paint(img, p.ellipse(0.5, 0.30, 0.27, 0.15) * (p.y < 0.32), HAIR)  # fringe, covering the head's top edge
    paint(img, p.ellipse(0.39, 0.395, 0.07, 0.013), HAIR)  # eyebrows
    paint(img, p.ellipse(0.61, 0.395, 0.07, 0.013), HAIR)
    paint(img, p.ellipse(0.5, 0.56, 0.028, 0.075), SKIN_SHADE)  # nose
    paint(img, p.ellipse(0.477, 0.618, 0.013, 0.008), (120, 70, 60))  # nostrils
    paint(img, p.ellipse(0.523, 0.618, 0.013, 0.008), (120, 70, 60))
    return img


def draw_eyes(img, p, lid):
    """lid = 1 open, 0 closed (blink)."""
    for cx in (0.39, 0.61):
        white = p.ellipse(cx, 0.46, 0.06, 0.033 * lid + 1e-4)
        paint(img, white, (250, 250, 250))
        paint(img, p.ellipse(cx, 0.46, 0.026, 0.026) * white, (90, 60, 35))
        paint(img, p.ellipse(cx, 0.46, 0.012, 0.012) * white, (10, 10, 10))
        paint(img, p.ellipse(cx + 0.008, 0.452, 0.005, 0.005) * white, (255, 255, 255))


def draw_mouth(img, p, opening):
    half_w = MOUTH_HALF_W - MOUTH_NARROW * opening
    inner_h = max(MOUTH_MAX_OPEN * opening, 0.004)  # closed: a thin dark line between the lips
    paint(img, p.ellipse(MOUTH_CX, MOUTH_CY, half_w + LIP * 0.5, inner_h + LIP), LIPS)
    inner = p.ellipse(MOUTH_CX, MOUTH_CY, half_w, inner_h)
    paint(img, inner, MOUTH_IN)
    # upper teeth show once the mouth opens
    paint(img, inner * p.rect(MOUTH_CX - half_w, MOUTH_CY - inner_h, MOUTH_CX + half_w, MOUTH_CY - inner_h + 0.018), TEETH)


def blink(i, fps):
    """Deterministic blink: 4 frames' worth of time every 3.1 s."""
    t = (i / fps) % 3.1
    return 0.1 if 1.5 <= t < 1.5 + 4 / 25 else 1.0


def cmd_render(args):
    pcm, rate = read_wav(args.padded)
    n_frames = int(round(len(pcm) * args.fps / rate))
    opening = mouth_envelope(pcm, rate, args.fps, n_frames)
    width, height = parse_size(args.size)
    p = Painter(width, height)
    base = static_face(p, width, height)
    eyes_p, eyes_at = p.window(0.31, 0.41, 0.69, 0.51)
    mouth_p, mouth_at = p.window(0.37, 0.62, 0.63, 0.82)
    out = sys.stdout.buffer
    for i in range(n_frames):
        img = base.copy()
        draw_eyes(img[eyes_at], eyes_p, blink(i, args.fps))
        draw_mouth(img[mouth_at], mouth_p, float(opening[i]))
        out.write(np.clip(np.round(img), 0, 255).astype(np.uint8).tobytes())
    out.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("prepare")
    pr.add_argument("--speech", required=True)
    pr.add_argument("--padded", required=True)
    pr.add_argument("--json", required=True)
    pr.add_argument("--size", default="256x256")
    pr.add_argument("--fps", type=int, default=25)
    pr.add_argument("--vfr", action="store_true")
    pr.add_argument("--audio-rate", type=int, default=0, help="sample rate of the clip's audio track (0: none)")
    pr.add_argument("--text", default="")
    rd = sub.add_parser("render")
    rd.add_argument("--padded", required=True)
    rd.add_argument("--size", default="256x256")
    rd.add_argument("--fps", type=int, default=25)
    args = ap.parse_args()
    cmd_prepare(args) if args.cmd == "prepare" else cmd_render(args)


if __name__ == "__main__":
    main()
