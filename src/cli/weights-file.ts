/**
 * Opens a .safetensors or PyTorch .pt file from disk as a WeightSource (src/nn/state-dict.ts): the header
 * or pickle is read at once, each tensor on demand, so large checkpoints are never held whole.
 */
import { openAsBlob } from 'node:fs';
import { openWeights, type WeightsBlob } from '../train/checkpoint-export.ts';

export type WeightsFile = WeightsBlob;

export async function openWeightsFile(path: string): Promise<WeightsFile> {
  return openWeights(await openAsBlob(path));
}
