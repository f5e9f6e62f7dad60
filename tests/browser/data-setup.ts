// Shared setup of the data browser tests: the test clips (made by scripts/make-demo-clip.sh, plus a
// short 4K clip and a zero-length MP4 made with ffmpeg), and the harness page built with the app's
// Vite config and served with the clips beside it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT } from '../../tools/serve.ts';
import { openHarnessPage, type Harness } from './harness-server.ts';

export const CLIPS_DIR = resolve(ROOT, 'test-results/clips');

export interface ClipEntry {
  file: string;
  mouth?: string;
  video?: string;
  audio?: number;
  size?: string;
  fps?: number;
  vfr?: number;
  broken?: boolean;
}
export type Manifest = Record<string, ClipEntry> & { skipped: string[] };

const SOURCES = ['scripts/make-demo-clip.sh', 'tools/demo/draw_face.py', 'tests/browser/data-setup.ts'].map((p) => resolve(ROOT, p));

function need(tool: string) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`The data browser tests make their clips with ${tool}: install it (apt-get install -y ffmpeg espeak-ng python3-numpy).`);
  }
}

/** Makes the test clips once (kept in test-results/clips until their scripts change). */
export function ensureTestClips(): Manifest {
  const manifest = join(CLIPS_DIR, 'manifest.json');
  const fresh = existsSync(manifest) && SOURCES.every((s) => statSync(s).mtimeMs < statSync(manifest).mtimeMs) && existsSync(join(CLIPS_DIR, 'uhd-4k.mp4')) && existsSync(join(CLIPS_DIR, 'rotated-landscape.mp4'));
  if (!fresh) {
    for (const t of ['ffmpeg', 'espeak-ng']) need(t);
    mkdirSync(CLIPS_DIR, { recursive: true });
    const ff = (...args: string[]) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { stdio: 'inherit' });
    // 4K: 10 frames of colour bars with a tone; cheap to encode, real 3840x2160 H.264 to decode
    ff('-f', 'lavfi', '-i', 'smptehdbars=s=3840x2160:r=25:d=0.4', '-f', 'lavfi', '-i', 'sine=f=440:r=44100:d=0.4',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', '-movflags', '+faststart', join(CLIPS_DIR, 'uhd-4k.mp4'));
    // zero-length: an MP4 whose index holds no frames
    ff('-f', 'lavfi', '-i', 'color=c=gray:s=64x64:r=25', '-frames:v', '0', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', join(CLIPS_DIR, 'zero-length.mp4'));
    writeFileSync(join(CLIPS_DIR, 'not-a-video.mp4'), 'This is a text file with a video extension.\n');
    execFileSync('bash', [resolve(ROOT, 'scripts/make-demo-clip.sh'), '--test-clips', CLIPS_DIR], { stdio: 'inherit' });
    // a phone-style portrait clip: landscape-coded frames with a rotation in the container's display matrix
    ff('-i', join(CLIPS_DIR, 'landscape-320x240.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=90', join(CLIPS_DIR, 'rotated-landscape.mp4'));
  }
  return JSON.parse(readFileSync(manifest, 'utf8')) as Manifest;
}

export type { Harness };

/** Builds the harness page, serves it with the clips and the demo, opens it in headless chromium. */
export async function openHarness(): Promise<Harness> {
  ensureTestClips();
  return openHarnessPage({
    name: 'data',
    pages: ['tests/browser/data-harness.html'],
    publicDir: false,
    port: 4273,
    timeoutMs: 90_000,
    addFiles(outDir) {
      mkdirSync(join(outDir, 'clips'));
      for (const f of readdirSync(CLIPS_DIR)) copyFileSync(join(CLIPS_DIR, f), join(outDir, 'clips', f));
      copyFileSync(resolve(ROOT, 'public/demo/demo.mp4'), join(outDir, 'clips', 'public-demo.mp4'));
    },
  });
}
