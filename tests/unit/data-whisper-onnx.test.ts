// The ONNX Whisper-encoder path in Node (onnxruntime-web's wasm backend): a tiny encoder with the
// input and output names and shapes of a real export runs on a clip's audio; its states are
// checked against the same arithmetic in TypeScript, and arranged per frame as LatentSync does.
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { encoderTokens, tokenShape } from '../../src/data/audio-tokens.ts';
import { logMelSpectrogram } from '../../src/data/logmel.ts';
import { EncoderModelError, layerOutputNames, loadWhisperEncoder } from '../../src/data/whisper-onnx.ts';
import { buildTinyEncoder, tinyEncoderReference } from './data-whisper-model.ts';

ort.env.wasm.numThreads = 1;

function speechLike(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 0.3 * Math.sin(i * 0.05) * Math.sin(i * 0.0007) + 0.1 * Math.sin(i * 0.31);
  return x;
}

describe('whisper encoder (ONNX)', () => {
  it('orders hidden-state outputs by layer number', () => {
    expect(layerOutputNames(['last_hidden_state', 'hidden_states.10', 'hidden_states.2', 'hidden_states.0'])).toEqual(['hidden_states.0', 'hidden_states.2', 'hidden_states.10']);
    expect(layerOutputNames(['last_hidden_state', 'hidden_states.0'], 'last')).toEqual(['last_hidden_state']);
    expect(layerOutputNames(['last_hidden_state'])).toEqual(['last_hidden_state']);
  });

  it('runs an export with hidden states: 5 layers stacked, 50 tokens a frame', async () => {
    const dim = 8;
    const enc = await loadWhisperEncoder(ort, buildTinyEncoder({ dim, layers: 5, hiddenStates: true }), { providers: ['wasm'] });
    try {
      expect(enc.layers).toBe(5);
      expect(enc.dim).toBe(dim);
      expect(enc.stepsPerWindow).toBe(1500);
      expect(enc.layerOutputs[0]).toBe('hidden_states.0');
      // 2 s of audio = 50 video frames = 100 steps
      const audio = speechLike(32000);
      const states = await enc.encode(audio);
      expect([states.steps, states.layers, states.dim]).toEqual([100, 5, dim]);
      // reference: Whisper's log-mel of the audio padded to 30 s, then the same arithmetic
      const mel = logMelSpectrogram(audio, 80, 480000 - audio.length);
      const ref = tinyEncoderReference(mel.data, { dim, layers: 5 });
      let maxErr = 0;
      for (let s = 0; s < 100; s++) for (let l = 0; l < 5; l++) for (let j = 0; j < dim; j++) {
        maxErr = Math.max(maxErr, Math.abs(states.data[(s * 5 + l) * dim + j]! - ref[l]![s * dim + j]!));
      }
      expect(maxErr).toBeLessThan(1e-4);
      // per frame: [50, dim]
      expect(tokenShape('encoder', states.layers, states.dim)).toEqual([50, dim]);
      const t = encoderTokens(states, 10);
      expect(t.length).toBe(50 * dim);
      expect(t[0]).toBeCloseTo(ref[0]![16 * dim]!, 4); // frame 10's window starts at step 16
    } finally {
      await enc.release();
    }
  });

  it('runs an export with last_hidden_state only (one layer) over several 30 s windows', async () => {
    const dim = 4;
    const enc = await loadWhisperEncoder(ort, buildTinyEncoder({ dim, layers: 3 }), { providers: ['wasm'] });
    try {
      expect(enc.layers).toBe(1);
      const audio = speechLike(31 * 16000); // 31 s: two windows
      const states = await enc.encode(audio);
      expect(states.steps).toBe(1550);
      const mel = logMelSpectrogram(audio, 80, 2 * 480000 - audio.length);
      // second window: mel frames 3000..5999
      const w2 = new Float32Array(80 * 3000);
      for (let m = 0; m < 80; m++) w2.set(mel.data.subarray(m * mel.nFrames + 3000, m * mel.nFrames + 6000), m * 3000);
      const ref = tinyEncoderReference(w2, { dim, layers: 3 })[2]!;
      for (const s of [0, 17, 49]) for (let j = 0; j < dim; j++) expect(states.data[(1500 + s) * dim + j]).toBeCloseTo(ref[s * dim + j]!, 4);
    } finally {
      await enc.release();
    }
  });

  it('refuses models that are not Whisper encoders', async () => {
    await expect(loadWhisperEncoder(ort, new Uint8Array([1, 2, 3, 4]), { providers: ['wasm'] })).rejects.toBeInstanceOf(EncoderModelError);
    await expect(loadWhisperEncoder(ort, buildTinyEncoder({ nMels: 40 }), { providers: ['wasm'] })).rejects.toThrow(/mel bins/);
  });
});
