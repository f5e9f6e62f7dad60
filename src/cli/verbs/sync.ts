import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { centeredBox, type FaceBox } from '../../data/crop.ts';
import { DEFAULT_MASK, type MaskParams } from '../../data/mask.ts';
import { fmtBytes, parseBytes } from '../../gpu/memory/bytes.ts';
import { acquireNodeDevice } from '../../gpu/node-gpu.ts';
import { GpuRuntime } from '../../gpu/runtime.ts';
import { getPreset } from '../../nn/presets.ts';
import { lipSync, syncAudio, type SyncAudioFeatures, type SyncModels, type SyncProgress } from '../../sync/api.ts';
import { DEFAULT_SYNC_AUDIO, encoderMismatch, heardTokens } from '../../sync/audio.ts';
import { loadSyncModels } from '../../sync/models.ts';
import { unetFileFacts } from '../../sync/unet-file-facts.ts';
import { loadWhisperEncoder, type WhisperEncoder } from '../../data/whisper-onnx.ts';
import type { AudioFeatureConfig } from '../../store/dataset-store.ts';
import { wavTo16kMono } from '../../sync/wav.ts';
import type { Args } from '../args.ts';
import { openWeightsFile } from '../weights-file.ts';
import { openY4m, readSyncManifest, y4mOutput, type SyncManifest, type Y4mInput } from './sync-files.ts';

export const help =
  'lip-syncs a video to audio: --unet FILE --vae FILE (or --models demo-models.json) [--preset UNET] [--vae-preset VAE] --video IN.y4m --audio IN.wav --out OUT.y4m [--audio-encoder WHISPER.onnx] [--steps 20] [--guidance 1.5] [--seed S] [--box x,y,w,h] [--resolution PX] [--chunk-frames 16] [--budget BYTES] [--json]';

function fail(what: string): never {
  throw new Error(`sync: ${what}`);
}

/** "--box x,y,w,h" (w == h: the box is square) or "x,y,size". */
function parseBox(raw: string): FaceBox {
  const v = raw.split(',').map(Number);
  if (!(v.length === 3 || v.length === 4) || !v.every(Number.isInteger)) fail(`--box ${raw}: x,y,w,h in pixels (integers)`);
  if (v.length === 4 && v[2] !== v[3]) fail(`--box ${raw}: the face box is square (w == h), as the models are trained on square crops`);
  return { x: v[0]!, y: v[1]!, size: v[2]! };
}

export async function run(args: Args): Promise<void> {
  const manifestPath = args.str('models');
  const manifest: SyncManifest = manifestPath ? readSyncManifest(manifestPath) : {};
  const unetPath = args.str('unet') ?? manifest.unetFile ?? fail(`--unet FILE is required${manifestPath ? ` (the manifest ${manifestPath} names no UNet file yet)` : ''}`);
  const vaePath = args.str('vae') ?? manifest.vaeFile ?? fail('--vae FILE is required');
  const videoPath = args.str('video') ?? fail('--video IN.y4m is required (convert any video with: ffmpeg -i IN.mp4 -pix_fmt yuv420p -r 25 IN.y4m)');
  const audioPath = args.str('audio') ?? fail('--audio IN.wav is required (extract it with: ffmpeg -i IN.mp4 -vn -ac 1 -ar 16000 IN.wav)');
  const outPath = args.str('out') ?? fail('--out OUT.y4m is required');
  if (!outPath.endsWith('.y4m')) fail(`--out ${outPath}: write a .y4m (then: ffmpeg -i OUT.y4m -i ${audioPath} -shortest OUT.mp4)`);

  // What a latent-lab export says it trained with, where the manifest does not say.
  const unetFile = await openWeightsFile(unetPath);
  const facts = unetFileFacts(unetFile.metadata);
  const features = manifest.audio?.features ?? facts.audio ?? DEFAULT_SYNC_AUDIO;
  const samples = wavTo16kMono(readFileSync(audioPath));
  const encoder = await audioEncoder(features, args.str('audio-encoder'));
  const audio = await syncAudio(samples, { features, window: manifest.audio?.window ?? facts.window, encoder }).finally(() => encoder?.release());

  const boxArg = args.str('box');
  const givenBox = boxArg ? parseBox(boxArg) : null;
  const budgetArg = args.str('budget');
  const rt = GpuRuntime.forDevice(await acquireNodeDevice(), { budget: budgetArg ? parseBytes(budgetArg) : undefined });
  let video: ReturnType<typeof openY4m> | null = null;
  let models: Awaited<ReturnType<typeof loadSyncModels>> | null = null;
  try {
    video = openY4m(videoPath);
    const unetPreset = args.str('preset') ?? manifest.unetPreset;
    const vaePreset = args.str('vae-preset') ?? manifest.vaePreset;
    models = await loadSyncModels(rt, { unet: unetFile, vae: await openWeightsFile(vaePath) }, { unetPreset, vaePreset, scalingFactor: manifest.scalingFactor });
    const factor = 2 ** (models.vae.config.block_out_channels.length - 1);
    const resolution =
      args.num('resolution') ??
      manifest.resolution ??
      facts.resolution ??
      (unetPreset ? getPreset(unetPreset).resolution : models.unet.config.sample_size * factor);
    const box = givenBox ?? centeredBox(video.width, video.height);
    await syncToFile(rt, models, video, audio, { box, resolution, mask: manifest.mask ?? facts.mask ?? DEFAULT_MASK, args, outPath, audioPath });
  } finally {
    video?.close();
    models?.unet.dispose();
    models?.vae.dispose();
    rt.destroy();
  }
}

/** The Whisper encoder (ONNX, run by onnxruntime-web's wasm backend) for a UNet that hears its tokens. */
async function audioEncoder(features: AudioFeatureConfig, path: string | undefined): Promise<WhisperEncoder | null> {
  if (features.kind !== 'encoder') return null;
  if (!path) fail(`the UNet hears the tokens of the audio encoder ${features.encoder} (${heardTokens(features)}): give it with --audio-encoder ${features.encoder}`);
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const encoder = await loadWhisperEncoder(ort, readFileSync(path), { providers: ['wasm'], name: basename(path) });
  const mismatch = encoderMismatch(features, encoder);
  if (mismatch) {
    await encoder.release();
    fail(`--audio-encoder ${path} does not fit: ${mismatch}`);
  }
  return encoder;
}

interface FileRun {
  box: FaceBox;
  resolution: number;
  mask: MaskParams;
  args: Args;
  outPath: string;
  audioPath: string;
}

/** Runs lip sync into OUT.tmp, renames it to OUT at the end; a cancel (Ctrl-C) or a failure deletes it. */
async function syncToFile(rt: GpuRuntime, models: SyncModels, video: Y4mInput, audio: SyncAudioFeatures, run: FileRun): Promise<void> {
  const { args, outPath, box, resolution } = run;
  const sink = y4mOutput(outPath, video);
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  const json = args.bool('json');
  const log = (p: SyncProgress) => {
    if (json) return;
    const eta = p.etaSeconds === null ? '' : `, ${p.etaSeconds.toFixed(0)} s left`;
    process.stderr.write(`\rsync: chunk ${p.chunk}/${p.chunks}, frame ${p.frame}/${p.frames}${eta}, peak ${fmtBytes(p.peakBytes)}   `);
  };
  try {
    const result = await lipSync(rt, models, video, audio, {
      sink,
      box,
      resolution,
      mask: run.mask,
      steps: args.num('steps'),
      guidance: args.num('guidance'),
      seed: args.num('seed'),
      chunkFrames: args.num('chunk-frames'),
      signal: controller.signal,
      onProgress: log,
    });
    sink.finish();
    const summary = { out: outPath, ...result, msPerFrame: result.ms / result.frames, box, resolution, videoFrames: video.frameCount, budget: Number.isFinite(rt.ledger.budget) ? rt.ledger.budget : null };
    if (json) console.log(JSON.stringify(summary, null, 2));
    else {
      process.stderr.write('\n');
      console.log(`sync: wrote ${outPath}: ${result.frames} frames (${result.durationSeconds.toFixed(2)} s at 25 fps) from ${video.frameCount} video frames; peak ${fmtBytes(result.peakBytes)}, ${(result.ms / result.frames).toFixed(0)} ms a frame`);
      console.log(`  add the audio: ffmpeg -i ${outPath} -i ${run.audioPath} -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest OUT.mp4`);
    }
  } catch (e) {
    sink.discard();
    if (!json) process.stderr.write('\n');
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
