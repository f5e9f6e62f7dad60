// The audio a lip-sync run follows: output length from the audio's duration, tokens as the dataset makes them.
import { describe, expect, it } from 'vitest';
import { melTokens } from '../../src/data/audio-tokens.ts';
import { logMelSpectrogram } from '../../src/data/logmel.ts';
import { framesForAudio, pingPongIndex, syncAudio } from '../../src/sync/api.ts';

describe('sync audio and frame order', () => {
  it('makes one output frame per 40 ms of audio, to the nearest frame', () => {
    expect(framesForAudio(16000, 16000)).toBe(25);
    expect(framesForAudio(16000 + 319, 16000)).toBe(25);
    expect(framesForAudio(16000 + 320, 16000)).toBe(26);
    expect(framesForAudio(48000 * 60, 48000)).toBe(1500);
  });

  it('gives each frame the log-mel tokens the dataset gives it, from the audio cut to whole frames', async () => {
    const samples = Float32Array.from({ length: 16000 + 500 }, (_, i) => Math.sin(i * 0.03) * Math.sin(i * 0.0011));
    const a = await syncAudio(samples);
    expect(a.frames).toBe(26);
    expect(a.tokenShape).toEqual([20, 80]);
    // the dataset: audio cut/padded to the frames' span (26 * 640 samples), log-mel, the window of frame k
    const padded = new Float32Array(26 * 640);
    padded.set(samples.subarray(0, padded.length));
    const mel = logMelSpectrogram(padded, 80);
    for (const k of [0, 7, 25]) expect(Array.from(a.tokens(k))).toEqual(Array.from(melTokens(mel.data, 80, mel.nFrames, k)));
    await expect(syncAudio(new Float32Array(100))).rejects.toThrow(/at least one frame \(40 ms\)/);
  });

  it('loops the video forwards and backwards as LatentSync does', () => {
    expect(Array.from({ length: 9 }, (_, k) => pingPongIndex(k, 3))).toEqual([0, 1, 2, 2, 1, 0, 0, 1, 2]);
    expect(Array.from({ length: 4 }, (_, k) => pingPongIndex(k, 1))).toEqual([0, 0, 0, 0]);
    expect(() => pingPongIndex(0, 0)).toThrow(/at least one frame/);
  });
});
