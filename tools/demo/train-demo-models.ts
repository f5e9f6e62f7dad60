// Trains the demo models on the demo clip and writes them into public/demo/:
//   demo-vae.safetensors   vae-tiny fitted to the clip's face crops (its scaling_factor set so latents have unit std)
//   demo-unet.safetensors  unet-tiny trained on that VAE's latents of the clip, conditioned on the clip's log-mel audio
//                          (the committed one by train_demo_unet.py from `--stage dump`'s data)
//   demo-models.json       the manifest: presets, files, resolution, audio config, crop box, mask, steps, losses
//
// Stages: --stage vae | unet | check | dump | all (default all). `unet` and `check` read the committed VAE / UNet;
// `--stage unet [--resume]` trains the UNet with the lab's own trainer (or continues the committed file);
// `--stage dump --out F` writes the UNet's training data for tools/demo/train_demo_unet.py, which trained the
// committed UNet in PyTorch (public/demo/README.md: why, and the commands that made the committed files).
// Options: --resolution 16 --vae-steps N --unet-steps N --ddim-steps N (the check's sampler) --reversed-frames N (the check's new-audio part; defaults in demo-files.ts).
import { parseArgs } from 'node:util';
import { acquireNodeDevice } from '../../src/gpu/node-gpu.ts';
import { GpuRuntime } from '../../src/gpu/runtime.ts';
import { loadDemoClip, withFeatures } from './demo-clip.ts';
import { trainDemoVae } from './demo-vae.ts';
import { trainDemoUnet } from './demo-unet.ts';
import { checkDemoUnet } from './demo-check.ts';
import { dumpDemoData } from './demo-dump.ts';
import { DEFAULTS } from './demo-files.ts';

const { values } = parseArgs({
  options: {
    stage: { type: 'string', default: 'all' },
    resolution: { type: 'string', default: String(DEFAULTS.resolution) },
    'vae-steps': { type: 'string', default: String(DEFAULTS.vaeSteps) },
    'unet-steps': { type: 'string', default: String(DEFAULTS.unetSteps) },
    'ddim-steps': { type: 'string', default: '20' },
    'reversed-frames': { type: 'string', default: '0' },
    resume: { type: 'boolean', default: false },
    out: { type: 'string', default: 'demo-unet-data.safetensors' },
  },
});
const stage = values.stage!;
if (!['all', 'vae', 'unet', 'check', 'dump'].includes(stage)) throw new Error(`--stage ${stage}: use vae, unet, check, dump or all`);
const resolution = Number(values.resolution);

const rt = GpuRuntime.forDevice(await acquireNodeDevice());
const clip = await withFeatures(loadDemoClip(resolution));
console.log(`demo clip: ${clip.frames} frames at ${resolution} px, crop box ${JSON.stringify(clip.box)}, log-mel [${clip.featureShape}]`);
if (stage === 'all' || stage === 'vae') await trainDemoVae(rt, clip, Number(values['vae-steps']));
if (stage === 'all' || stage === 'unet') await trainDemoUnet(rt, clip, Number(values['unet-steps']), values.resume);
if (stage === 'dump') await dumpDemoData(rt, clip, values.out!);
if (stage === 'all' || stage === 'check') await checkDemoUnet(rt, clip, Number(values['ddim-steps']), Number(values['reversed-frames']));
rt.destroy();
