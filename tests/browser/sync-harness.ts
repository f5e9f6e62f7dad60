// The page of the lip-sync browser tests: the real engine worker as window.lab (Comlink), and the
// media side of lip sync for direct checks: the encoder sink (VideoFileWriter), the streaming frame
// source (ClipFrameSource), and readBack(), which demuxes and decodes a file with mediabunny to say what
// it holds. Built by tests/browser/sync-setup.ts, not part of the app.
import * as Comlink from 'comlink';
import { ALL_FORMATS, AudioSampleSink, BlobSource, EncodedPacketSink, Input, VideoSampleSink } from 'mediabunny';
import { openClip } from '../../src/data/demux.ts';
import { readRgba } from '../../src/data/frame-pixels.ts';
import { ClipFrameSource } from '../../src/media/clip-frames.ts';
import { chooseOutput } from '../../src/media/output-codecs.ts';
import { VideoFileWriter } from '../../src/media/video-file-writer.ts';
import type { LabEngine } from '../../src/worker/api.ts';

const worker = new Worker(new URL('../../src/worker/lab.worker.ts', import.meta.url), { type: 'module' });
const lab = Comlink.wrap<LabEngine>(worker);

/** What a media file holds, read back independently of the code that wrote it. */
async function readBack(blob: Blob, opts: { meanLuma?: boolean } = {}) {
  const input = new Input({ source: new BlobSource(blob), formats: ALL_FORMATS });
  try {
    const video = await input.getPrimaryVideoTrack();
    const audio = await input.getPrimaryAudioTrack();
    const pts: number[] = [];
    if (video) for await (const p of new EncodedPacketSink(video).packets(undefined, undefined, { metadataOnly: true })) pts.push(p.timestamp);
    // decoded audio: how many samples there really are (container durations can include encoder padding)
    let audioSamples = 0;
    if (audio) for await (const s of new AudioSampleSink(audio).samples()) {
      audioSamples += s.numberOfFrames;
      s.close();
    }
    const luma: number[] = [];
    if (video && opts.meanLuma) {
      for await (const s of new VideoSampleSink(video).samples()) {
        const frame = s.toVideoFrame();
        const rgba = await readRgba(frame, { x: 0, y: 0, width: frame.visibleRect!.width, height: frame.visibleRect!.height });
        frame.close();
        s.close();
        let sum = 0;
        for (let i = 0; i < rgba.length; i += 4) sum += rgba[i]! + rgba[i + 1]! + rgba[i + 2]!;
        luma.push(sum / (rgba.length / 4) / 3);
      }
    }
    return {
      mimeType: await input.getMimeType(),
      videoCodec: video ? await video.getCodec() : null,
      width: video ? await video.getDisplayWidth() : 0,
      height: video ? await video.getDisplayHeight() : 0,
      videoPackets: pts.length,
      videoDuration: video ? await video.computeDuration() : 0,
      firstVideoPts: pts.length ? Math.min(...pts) : null,
      audioCodec: audio ? await audio.getCodec() : null,
      audioRate: audio ? await audio.getSampleRate() : 0,
      audioChannels: audio ? await audio.getNumberOfChannels() : 0,
      audioDuration: audio ? await audio.computeDuration() : 0,
      audioSamples,
      luma,
    };
  } finally {
    input.dispose();
  }
}

/** The demo clip's full frames through ClipFrameSource, in the given order: each frame's bytes summed, and decoder restarts. */
async function readFrames(url: string, order: number[]) {
  const blob = await (await fetch(url)).blob();
  const clip = await openClip(blob, 'clip');
  const source = await ClipFrameSource.open(clip.video, clip.probe.video, 'clip');
  try {
    const sums: number[] = [];
    const t0 = performance.now();
    for (const k of order) {
      const rgba = await source.read(k);
      let h = 0;
      for (let i = 0; i < rgba.length; i += 7) h = (h * 31 + rgba[i]!) >>> 0;
      sums.push(h);
    }
    return { width: source.width, height: source.height, frameCount: source.frameCount, seeks: source.seeks, hashes: sums, ms: performance.now() - t0 };
  } finally {
    await source.close();
    clip.dispose();
  }
}

Object.assign(window, { lab, Comlink, media: { VideoFileWriter, chooseOutput, readBack, readFrames }, harnessReady: true });
