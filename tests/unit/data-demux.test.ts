// Probing with mediabunny in Node (demuxing needs no decoder): the committed demo clip, and broken
// files cut from it, each refused with its own reason.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClipError } from '../../src/data/clip-error.ts';
import { openClip, topLevelBoxes } from '../../src/data/demux.ts';
import { outputFrameCount } from '../../src/data/frame-times.ts';

const demo = readFileSync(new URL('../../public/demo/demo.mp4', import.meta.url));
const mouth = JSON.parse(readFileSync(new URL('../../public/demo/demo-mouth.json', import.meta.url), 'utf8'));

async function refusal(bytes: Uint8Array, name: string): Promise<ClipError> {
  try {
    (await openClip(new Blob([bytes.slice()]), name)).dispose();
  } catch (e) {
    expect(e).toBeInstanceOf(ClipError);
    return e as ClipError;
  }
  throw new Error(`${name} was accepted`);
}

/** An MP4 with the same boxes as demo.mp4 but without the moov box (the index). */
function withoutMoov(mp4: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  const view = new DataView(mp4.buffer, mp4.byteOffset, mp4.byteLength);
  for (let at = 0; at < mp4.length; ) {
    const size = view.getUint32(at);
    const type = String.fromCharCode(...mp4.subarray(at + 4, at + 8));
    if (type !== 'moov') parts.push(mp4.subarray(at, at + size));
    at += size;
  }
  return new Uint8Array(Buffer.concat(parts));
}

describe('demux', () => {
  it('probes the demo clip: H.264 + AAC, 25 fps, its frame count', async () => {
    const clip = await openClip(new Blob([demo.slice()]), 'demo.mp4');
    try {
      const { probe } = clip;
      expect(probe.container).toBe('mp4');
      expect(probe.video.codec).toBe('avc');
      expect(probe.audio?.codec).toBe('aac');
      expect([probe.video.displayWidth, probe.video.displayHeight]).toEqual([mouth.width, mouth.height]);
      expect(probe.video.packets).toBe(mouth.frame_count);
      expect(probe.video.fps).toBeCloseTo(25, 3);
      expect(probe.video.variableFrameRate).toBe(false);
      expect(outputFrameCount(probe.durationUs, 25)).toBe(mouth.frame_count);
    } finally {
      clip.dispose();
    }
  });

  it('lists top-level boxes and spots a cut one', async () => {
    const full = await topLevelBoxes(new Blob([demo.slice()]));
    expect(full.types).toContain('moov');
    expect(full.types).toContain('mdat');
    expect(full.cut).toBe(false);
    expect((await topLevelBoxes(new Blob([demo.slice(0, demo.length - 100)]))).cut).toBe(true);
  });

  it('refuses an empty file, a non-video, a truncated MP4 and one without its index', async () => {
    expect((await refusal(new Uint8Array(0), 'empty.mp4')).code).toBe('empty-file');
    const notVideo = await refusal(new TextEncoder().encode('{"this": "is json, not a video"}'), 'notes.json');
    expect(notVideo.code).toBe('not-a-video');
    expect(notVideo.action).toMatch(/MP4, MOV, WebM or MKV/);
    // the demo is fast-start (moov first): cutting it keeps the index but loses frames
    const cut = await refusal(demo.subarray(0, demo.length >> 1), 'cut.mp4');
    expect(cut.code).toBe('truncated');
    expect(cut.message).toMatch(/cut short/);
    const noMoov = await refusal(withoutMoov(demo), 'no-index.mp4');
    expect(noMoov.code).toBe('truncated');
    expect(noMoov.detail).toMatch(/no moov/);
  });
});
