// Whisper log-mel features against tools/reference/logmel_ref.py (torch.stft, the librosa
// filterbank written from its definition; the filterbank must match to the bit).
// Tolerance on the normalized log-mel (values span about 2 units), max abs:
// - 1e-4 against Whisper's own float32 pipeline. The TS side runs in float64; torch's float32
//   rounding alone moves quiet bands (near the max - 8 floor) by up to ~4e-5.
// - 1e-6 against the same pipeline run in float64: what is left is the float32 output rounding.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HOP_LENGTH, logMelSpectrogram, melFilterbank } from '../../src/data/logmel.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';

const TOLERANCE = 1e-4;
const TOLERANCE_F64 = 1e-6;

const fixture = readSafetensors(readFileSync(new URL('../fixtures/logmel/logmel.safetensors', import.meta.url)));

function tensor(name: string): { shape: number[]; data: Float32Array } {
  const t = fixture.tensors.get(name);
  if (!t || t.dtype !== 'F32') throw new Error(`fixture has no F32 tensor ${name}`);
  const bytes = t.data.slice(); // copy: aligned for Float32Array
  return { shape: t.shape, data: new Float32Array(bytes.buffer, 0, bytes.byteLength / 4) };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('melFilterbank', () => {
  it('equals librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) as the reference writes it', () => {
    const expected = tensor('mel_filters_80');
    expect(expected.shape).toEqual([80, 201]);
    expect(maxAbsDiff(melFilterbank(16000, 400, 80), expected.data)).toBe(0);
  });

  it("equals librosa's 128-band filterbank (Whisper large-v3)", () => {
    const expected = tensor('mel_filters_128');
    expect(expected.shape).toEqual([128, 201]);
    expect(maxAbsDiff(melFilterbank(16000, 400, 128), expected.data)).toBe(0);
  });
});

describe('logMelSpectrogram', () => {
  for (const name of ['speech', 'chirp', 'short']) {
    it(`matches Whisper's log_mel_spectrogram on "${name}"`, () => {
      const audio = tensor(`${name}.audio`).data;
      const expected = tensor(`${name}.logmel`);
      const got = logMelSpectrogram(audio);
      expect([got.nMels, got.nFrames]).toEqual(expected.shape);
      expect(got.nFrames).toBe(Math.floor(audio.length / HOP_LENGTH));
      const err = maxAbsDiff(got.data, expected.data);
      const err64 = maxAbsDiff(got.data, tensor(`${name}.logmel_f64`).data);
      console.log(`logmel ${name}: [${expected.shape.join(', ')}] max abs error ${err.toExponential(2)} (vs float64 torch ${err64.toExponential(2)})`);
      expect(err).toBeLessThanOrEqual(TOLERANCE);
      expect(err64).toBeLessThanOrEqual(TOLERANCE_F64);
    });
  }

  it('appends zero padding like Whisper and supports 128 bands', () => {
    const audio = tensor('short.audio').data;
    const out = logMelSpectrogram(audio, 128, 16000);
    expect(out.nMels).toBe(128);
    expect(out.nFrames).toBe(Math.floor((audio.length + 16000) / HOP_LENGTH));
    expect(out.data.length).toBe(128 * out.nFrames);
  });

  it('refuses input that reflect padding cannot handle', () => {
    expect(() => logMelSpectrogram(new Float32Array(200))).toThrow(RangeError);
  });

  it('takes well under two seconds for 30 s of audio', () => {
    const audio = new Float32Array(30 * 16000);
    for (let i = 0; i < audio.length; i++) audio[i] = Math.sin(i * 0.05) * 0.3 + Math.sin(i * 1.3) * 0.1;
    logMelSpectrogram(audio.subarray(0, 16000)); // warm up the tables and the JIT
    const t0 = performance.now();
    const out = logMelSpectrogram(audio);
    const ms = performance.now() - t0;
    console.log(`logmel 30 s: ${ms.toFixed(0)} ms`);
    expect(out.nFrames).toBe(3000);
    expect(ms).toBeLessThan(2000);
  });
});
