// The committed demo UNet (public/demo/demo-unet.safetensors, trained in PyTorch by tools/demo/train_demo_unet.py)
// computes in the lab what it computes in PyTorch: its forward on a seeded 4-frame input, audio projection
// included, against the float64 output the trainer wrote with the same file's weights.
import { describe, expect, it } from 'vitest';
import { foldFrames, unfoldFrames } from '../../src/nn/unet/frames.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { loadDemoUnet } from '../../tools/demo/demo-unet.ts';
import { expectClose, loadGolden, maxRelError } from '../helpers/golden.ts';
import { testRuntime } from '../helpers/gpu.ts';

describe('the demo UNet in the lab vs PyTorch', () => {
  it('gives PyTorch’s output for the same weights and input', async () => {
    const io = loadGolden('models/demo_unet.io.safetensors');
    const rt = await testRuntime();
    const unet = await loadDemoUnet(rt);
    const [b, c, f, h, w] = io.shape('in.sample');
    const outShape = io.shape('out.sample');
    const [, , tokens, width] = io.shape('in.audio');
    const out = noGrad(() =>
      unet.forward(
        Tensor.fromArray(rt, foldFrames(io.t('in.sample'), [b, c, f, h, w]), [b * f, c, h, w]),
        Tensor.fromArray(rt, io.t('in.timestep'), [b]),
        Tensor.fromArray(rt, io.t('in.audio'), [b * f, tokens, width]),
        f,
      ),
    );
    const got = unfoldFrames(await out.toArray(), outShape);
    out.dispose();
    unet.dispose();
    expect(got.length).toBe(outShape.reduce((a, x) => a * x, 1));
    console.log(`demo UNet vs PyTorch: max rel error ${maxRelError(got, io.t('out.sample')).toExponential(2)}`);
    expectClose(got, io.t('out.sample'), 1e-4, 'demo UNet output');
  });
});
