// Per-frame audio token windows, as LatentSync's Audio2Feature.get_sliced_feature arranges them.
import { describe, expect, it } from 'vitest';
import { encoderTokens, encoderWindow, melTokens, melWindow, samplesForFrames, tokenShape, windowSteps } from '../../src/data/audio-tokens.ts';

describe('audio token windows', () => {
  it('takes 10 encoder steps around frame k at 25 fps: 2k - 4 .. 2k + 5, clamped', () => {
    expect(windowSteps()).toBe(10);
    expect(Array.from(encoderWindow(10, 1000))).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    expect(Array.from(encoderWindow(0, 1000))).toEqual([0, 0, 0, 0, 0, 1, 2, 3, 4, 5]);
    expect(Array.from(encoderWindow(99, 200))).toEqual([194, 195, 196, 197, 198, 199, 199, 199, 199, 199]);
    // other frame rates: centre = floor(k * 50 / fps)
    expect(encoderWindow(3, 1000, 30)[4]).toBe(5);
  });

  it('matches get_sliced_feature written out for a whole clip', () => {
    // the Python: center = int(i * 50 / fps); range(center - 2 * 2, center + (2 + 1) * 2), clamped
    const steps = 37;
    for (let k = 0; k < 19; k++) {
      const centre = Math.trunc((k * 50) / 25);
      const want: number[] = [];
      for (let i = centre - 4; i < centre + 6; i++) want.push(Math.min(steps - 1, Math.max(0, i)));
      expect(Array.from(encoderWindow(k, steps))).toEqual(want);
    }
  });

  it('stacks layers per step: 50 x 384 tokens for Whisper tiny (5 hidden states)', () => {
    const steps = 40, layers = 5, dim = 384;
    expect(tokenShape('encoder', layers, dim)).toEqual([50, 384]);
    const data = new Float32Array(steps * layers * dim);
    for (let s = 0; s < steps; s++) for (let l = 0; l < layers; l++) data.fill(s * 10 + l, (s * layers + l) * dim, (s * layers + l + 1) * dim);
    const t = encoderTokens({ data, steps, layers, dim }, 5);
    expect(t.length).toBe(50 * 384);
    // token i = step window[i / layers], layer i % layers
    const win = encoderWindow(5, steps);
    for (let i = 0; i < 50; i++) {
      expect(t[i * dim]).toBe(win[Math.floor(i / layers)]! * 10 + (i % layers));
      expect(t[i * dim + dim - 1]).toBe(t[i * dim]);
    }
  });

  it('takes 20 log-mel frames (the same span at 100 Hz) without an encoder', () => {
    expect(tokenShape('logmel', 80)).toEqual([20, 80]);
    expect(Array.from(melWindow(10, 1000))).toEqual(Array.from({ length: 20 }, (_, i) => 32 + i));
    expect(Array.from(melWindow(0, 1000)).slice(0, 9)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const nMels = 3, nFrames = 50;
    const mel = new Float32Array(nMels * nFrames).map((_, i) => i); // [m][t] = m * 50 + t
    const tok = melTokens(mel, nMels, nFrames, 4);
    const win = melWindow(4, nFrames);
    for (let i = 0; i < 20; i++) for (let m = 0; m < nMels; m++) expect(tok[i * nMels + m]).toBe(m * nFrames + win[i]!);
  });

  it('sizes the audio of a clip by its frames', () => {
    expect(samplesForFrames(188)).toBe(120320);
    expect(samplesForFrames(1)).toBe(640);
  });
});
