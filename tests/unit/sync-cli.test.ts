// `lab sync` end to end on Dawn with tiny random models written to .safetensors: Y4M and WAV in, Y4M out
// through OUT.tmp; plus the Y4M and WAV codecs it reads and writes.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/cli/args.ts';
import { run } from '../../src/cli/verbs/sync.ts';
import { getPreset } from '../../src/nn/presets.ts';
import { exportStateDict } from '../../src/nn/state-dict.ts';
import { UNet3DConditionModel } from '../../src/nn/unet/unet-3d-condition.ts';
import { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.ts';
import { writeSafetensors } from '../../src/io/safetensors.ts';
import { pingPongIndex } from '../../src/sync/frame-order.ts';
import { parseWav, wavTo16kMono } from '../../src/sync/wav.ts';
import { formatY4mHeader, parseY4mHeader, rgbaToYuv, y4mFrameBytes, yuvToRgba } from '../../src/sync/y4m.ts';
import { openY4m } from '../../src/cli/verbs/sync-files.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { buildTinyEncoder } from './data-whisper-model.ts';

const W = 24, H = 20;

function randomRgba(seed: number, w = W, h = H): Uint8Array {
  let s = seed * 2654435761;
  return Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 255 : ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 16) & 255));
}

function y4mFile(frames: Uint8Array[], header: string): Uint8Array {
  const h = parseY4mHeader(header);
  const parts: Uint8Array[] = [new TextEncoder().encode(formatY4mHeader(h))];
  for (const f of frames) parts.push(new TextEncoder().encode('FRAME\n'), rgbaToYuv(h, f));
  return Buffer.concat(parts);
}

function wav16(samples: Float32Array[], rate: number): Uint8Array {
  const n = samples[0]!.length, ch = samples.length;
  const b = Buffer.alloc(44 + n * ch * 2);
  b.write('RIFF', 0); b.writeUInt32LE(36 + n * ch * 2, 4); b.write('WAVE', 8);
  b.write('fmt ', 12); b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(ch, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * ch * 2, 28); b.writeUInt16LE(ch * 2, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36); b.writeUInt32LE(n * ch * 2, 40);
  for (let i = 0; i < n; i++) for (let c = 0; c < ch; c++) b.writeInt16LE(Math.round(samples[c]![i]! * 32767), 44 + (i * ch + c) * 2);
  return b;
}

describe('Y4M and WAV', () => {
  it('parses and writes Y4M headers, converts YUV and RGBA both ways', () => {
    const h = parseY4mHeader('YUV4MPEG2 W24 H20 F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG');
    expect([h.width, h.height, h.fpsNum, h.fpsDen, h.chroma, h.fullRange]).toEqual([24, 20, 30000, 1001, '420', false]);
    expect(formatY4mHeader(h, 25, 1)).toBe('YUV4MPEG2 W24 H20 Ip A1:1 C420jpeg XYSCSS=420JPEG F25:1\n');
    expect(y4mFrameBytes(h)).toBe(24 * 20 * 1.5);
    expect(() => parseY4mHeader('YUV4MPEG2 W24 H20 F25:1 C420p10')).toThrow(/C420p10 is not supported.*ffmpeg/);
    expect(() => parseY4mHeader('RIFF....')).toThrow(/not a YUV4MPEG2 file/);
    // 4:4:4 round trip: BT.601 limited range loses a little; within 2 levels
    const h444 = parseY4mHeader('YUV4MPEG2 W24 H20 F25:1 C444');
    const rgba = randomRgba(3);
    const back = yuvToRgba(h444, rgbaToYuv(h444, rgba));
    let worst = 0;
    for (let i = 0; i < rgba.length; i++) worst = Math.max(worst, Math.abs(back[i]! - rgba[i]!));
    expect(worst).toBeLessThanOrEqual(2);
    // known colours: limited-range white, black, pure red
    const px = (r: number, g: number, b: number) => rgbaToYuv(parseY4mHeader('YUV4MPEG2 W2 H2 F25:1 C420'), Uint8Array.from({ length: 16 }, (_, i) => [r, g, b, 255][i % 4]!));
    expect([...px(255, 255, 255)]).toEqual([235, 235, 235, 235, 128, 128]);
    expect([...px(0, 0, 0)]).toEqual([16, 16, 16, 16, 128, 128]);
    expect([...px(255, 0, 0)]).toEqual([81, 81, 81, 81, 90, 240]);
  });

  it('reads 16-bit, 24-bit and float WAV, and makes 16 kHz mono', () => {
    const tone = (n: number, f: number) => Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin(i * f));
    const w = parseWav(wav16([tone(480, 0.1), tone(480, 0.2)], 48000));
    expect(w.sampleRate).toBe(48000);
    expect(w.channels.length).toBe(2);
    expect(w.channels[1]![7]).toBeCloseTo(0.5 * Math.sin(1.4), 4);
    // float32 and 24-bit, mono
    const f = Buffer.alloc(44 + 8);
    f.write('RIFF', 0); f.write('WAVE', 8); f.write('fmt ', 12); f.writeUInt32LE(16, 16); f.writeUInt16LE(3, 20); f.writeUInt16LE(1, 22);
    f.writeUInt32LE(16000, 24); f.writeUInt16LE(32, 34); f.write('data', 36); f.writeUInt32LE(8, 40); f.writeFloatLE(0.25, 44); f.writeFloatLE(-1, 48);
    expect([...parseWav(f).channels[0]!]).toEqual([0.25, -1]);
    const p24 = Buffer.from(f); p24.writeUInt16LE(1, 20); p24.writeUInt16LE(24, 34); p24.writeUInt32LE(6, 40);
    p24.writeUIntLE(0x400000, 44, 3); p24.writeIntLE(-0x800000, 47, 3);
    expect([...parseWav(p24.subarray(0, 50)).channels[0]!]).toEqual([0.5, -1]);
    expect(wavTo16kMono(wav16([tone(48000, 0.1)], 48000)).length).toBe(16000);
    expect(() => parseWav(new Uint8Array(20))).toThrow(/not a RIFF WAVE file.*ffmpeg/);
  });

  it('retimes a 50 fps Y4M to 25 fps by timestamp', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sync-y4m-'));
    const frames = Array.from({ length: 10 }, (_, i) => randomRgba(i + 1));
    writeFileSync(join(dir, 'in.y4m'), y4mFile(frames, 'YUV4MPEG2 W24 H20 F50:1 Ip C444'));
    const v = openY4m(join(dir, 'in.y4m'));
    expect([v.fileFrames, v.frameCount]).toEqual([10, 5]);
    // output frame 2 (at 0.08 s) is file frame 4; planes follow each 6-byte "FRAME\n"
    const bytes = readFileSync(join(dir, 'in.y4m'));
    const headerEnd = bytes.indexOf(10) + 1, per = 6 + y4mFrameBytes(v.header);
    expect([...v.readPlanes(2)]).toEqual([...bytes.subarray(headerEnd + 4 * per + 6, headerEnd + 5 * per)]);
    v.close();
  });
});

describe('lab sync (tiny random models, Dawn)', { timeout: 600_000 }, () => {
  it('writes one output frame per audio frame, the input bytes outside the box, and nothing on failure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sync-cli-'));
    const rt = await testRuntime({ pooling: false });
    // unet-tiny hearing the dataset's log-mel tokens (20 x 80) straight in its cross-attention
    const unet = new UNet3DConditionModel({ ...getPreset('unet-tiny').config, cross_attention_dim: 80 }).materialize(rt, { seed: 2, requiresGrad: false });
    const vae = new AutoencoderKL(getPreset('vae-tiny').config).materialize(rt, { seed: 3, requiresGrad: false });
    writeFileSync(join(dir, 'unet.safetensors'), writeSafetensors(await exportStateDict(unet), { config: JSON.stringify(unet.config) }) as Uint8Array);
    writeFileSync(join(dir, 'vae.safetensors'), writeSafetensors(await exportStateDict(vae), { config: JSON.stringify(vae.config) }) as Uint8Array);
    unet.dispose();
    vae.dispose();
    const frames = Array.from({ length: 6 }, (_, i) => randomRgba(i + 10));
    const input = y4mFile(frames, 'YUV4MPEG2 W24 H20 F25:1 Ip A1:1 C420jpeg');
    writeFileSync(join(dir, 'in.y4m'), input);
    // 0.4 s of 48 kHz stereo: 10 frames, so the 6-frame video plays forwards then backwards
    const tone = Float32Array.from({ length: 19200 }, (_, i) => 0.3 * Math.sin(i * 0.05) * Math.sin(i * 0.0004));
    writeFileSync(join(dir, 'in.wav'), wav16([tone, tone], 48000));
    const box = { x: 6, y: 2, size: 16 };
    const argv = ['--unet', join(dir, 'unet.safetensors'), '--vae', join(dir, 'vae.safetensors'), '--video', join(dir, 'in.y4m'), '--audio', join(dir, 'in.wav'), '--steps', '1', '--resolution', '16', '--json'];
    await run(parseArgs([...argv, '--out', join(dir, 'out.y4m'), '--box', `${box.x},${box.y},${box.size},${box.size}`]));

    const out = openY4m(join(dir, 'out.y4m'));
    expect([out.fileFrames, out.header.fpsNum, out.header.fpsDen, out.header.colorspaceTag]).toEqual([10, 25, 1, '420jpeg']);
    const src = openY4m(join(dir, 'in.y4m'));
    let changed = 0;
    for (let k = 0; k < 10; k++) {
      const o = out.readPlanes(k), i = src.readPlanes(pingPongIndex(k, 6));
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        const inBox = x >= box.x && x < box.x + box.size && y >= box.y && y < box.y + box.size;
        if (!inBox) expect(o[y * W + x], `frame ${k} luma (${x}, ${y})`).toBe(i[y * W + x]);
        else if (o[y * W + x] !== i[y * W + x]) changed++;
      }
      // chroma of 2x2 blocks outside the box: the input's bytes
      for (let cy = 0; cy < H / 2; cy++) for (let cx = 0; cx < W / 2; cx++) {
        const outside = 2 * cx + 1 < box.x || 2 * cx >= box.x + box.size || 2 * cy + 1 < box.y || 2 * cy >= box.y + box.size;
        for (const plane of [W * H, W * H + (W * H) / 4]) if (outside) expect(o[plane + cy * (W / 2) + cx]).toBe(i[plane + cy * (W / 2) + cx]);
      }
    }
    expect(changed).toBeGreaterThan(10 * 50);
    out.close();
    src.close();
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // a box outside the frame fails before anything is written, and leaves neither the file nor its .tmp
    await expect(run(parseArgs([...argv, '--out', join(dir, 'bad.y4m'), '--box', '10,0,16,16']))).rejects.toThrow(/outside the 24x20 video/);
    await expect(run(parseArgs([...argv, '--out', join(dir, 'bad.y4m'), '--box', '0,0,16,12']))).rejects.toThrow(/square/);
    expect(readdirSync(dir).filter((f) => f.startsWith('bad'))).toEqual([]);
  });

  it("runs a model that hears a Whisper encoder's tokens with --audio-encoder, taking its features from the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sync-cli-encoder-'));
    const rt = await testRuntime({ pooling: false });
    // unet-tiny's cross-attention is 16 wide: the tiny encoder's 5 stacked layers (50 tokens of 16) go straight in
    const unet = new UNet3DConditionModel(getPreset('unet-tiny').config).materialize(rt, { seed: 4, requiresGrad: false });
    const vae = new AutoencoderKL(getPreset('vae-tiny').config).materialize(rt, { seed: 5, requiresGrad: false });
    const dataset = { resolution: 16, mask: { top: 0.5, bottom: 1, side: 0.0625 }, audio: { kind: 'encoder', encoder: 'whisper-tiny.onnx', layers: 5, dim: 16 }, window: { left: 2, right: 2 }, fps: 25 };
    // the metadata a latent-lab export writes: the crop size in train_config, the dataset's audio in dataset_config
    const meta = { config: JSON.stringify(unet.config), train_config: JSON.stringify({ resolution: 16 }), dataset_config: JSON.stringify(dataset) };
    writeFileSync(join(dir, 'unet.safetensors'), writeSafetensors(await exportStateDict(unet), meta) as Uint8Array);
    writeFileSync(join(dir, 'vae.safetensors'), writeSafetensors(await exportStateDict(vae), { config: JSON.stringify(vae.config) }) as Uint8Array);
    unet.dispose();
    vae.dispose();
    rt.destroy();
    writeFileSync(join(dir, 'whisper.onnx'), buildTinyEncoder({ dim: 16, layers: 5, hiddenStates: true }));
    writeFileSync(join(dir, 'narrow.onnx'), buildTinyEncoder({ dim: 8, layers: 5, hiddenStates: true }));
    writeFileSync(join(dir, 'in.y4m'), y4mFile(Array.from({ length: 4 }, (_, i) => randomRgba(i + 20)), 'YUV4MPEG2 W24 H20 F25:1 Ip A1:1 C420jpeg'));
    const speech = Float32Array.from({ length: 3200 }, (_, i) => 0.4 * Math.sin(i * 0.07) * Math.sin(i * 0.002));
    writeFileSync(join(dir, 'speech.wav'), wav16([speech], 16000));
    const argv = (audio: string, out: string) => ['--unet', join(dir, 'unet.safetensors'), '--vae', join(dir, 'vae.safetensors'), '--video', join(dir, 'in.y4m'), '--audio', join(dir, audio), '--steps', '1', '--guidance', '1', '--seed', '9', '--out', join(dir, out)];

    await expect(run(parseArgs(argv('speech.wav', 'none.y4m')))).rejects.toThrow(/hears the tokens of the audio encoder whisper-tiny\.onnx \(5 layers of width 16\): give it with --audio-encoder/);
    await expect(run(parseArgs([...argv('speech.wav', 'none.y4m'), '--audio-encoder', join(dir, 'narrow.onnx')]))).rejects.toThrow(/narrow\.onnx does not fit: the models hear 5 layers of width 16 from whisper-tiny\.onnx; the encoder narrow\.onnx gives 5 layers of width 8/);
    // the features need the encoder (syncAudio refuses encoder features without one): the run hears its tokens
    await run(parseArgs([...argv('speech.wav', 'speech.y4m'), '--audio-encoder', join(dir, 'whisper.onnx')]));
    // 0.2 s of audio: 5 frames, at the file's 16 px crops (no --resolution given), the box redrawn
    const out = openY4m(join(dir, 'speech.y4m')), src = openY4m(join(dir, 'in.y4m'));
    expect(out.fileFrames).toBe(5);
    let changed = 0;
    for (let k = 0; k < 5; k++) {
      const o = out.readPlanes(k), i = src.readPlanes(pingPongIndex(k, 4));
      for (let p = 0; p < W * H; p++) if (o[p] !== i[p]) changed++;
    }
    out.close();
    src.close();
    expect(changed).toBeGreaterThan(5 * 50);
    expect(readdirSync(dir).filter((f) => f.startsWith('none') || f.endsWith('.tmp'))).toEqual([]);
  });
});
