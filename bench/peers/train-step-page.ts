/**
 * The training-step row in the peers page (npm run bench -- train-step): our trainer on the page's WebGPU
 * adapter vs the TF.js UNet on TF.js's WebGPU backend (bench/suites/train-step.ts). Imported only when
 * asked for, so the ops comparison never loads it.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import type { TrainConfig } from '../../src/train/config.ts';
import { runTrainStep, type TrainStepResult } from '../suites/train-step.ts';
import { OursPeer } from './ours.ts';

export interface TrainStepPageConfig {
  config: TrainConfig;
  warmup: number;
  repeats: number;
  tolerance: number;
}

export interface TrainStepPageResult extends TrainStepResult {
  adapter: string;
  userAgent: string;
  tfjsVersion: string;
}

export async function trainStepPage(cfg: TrainStepPageConfig): Promise<TrainStepPageResult> {
  const ours = new OursPeer();
  await ours.init(navigator.gpu);
  if (!(await tf.setBackend('webgpu'))) throw new Error('TF.js could not start its WebGPU backend');
  await tf.ready();
  const log = (s: string) => console.log(s);
  const r = await runTrainStep(ours.rt, cfg.config, { warmup: cfg.warmup, repeats: cfg.repeats, tolerance: cfg.tolerance, log });
  return { ...r, adapter: ours.adapter, userAgent: navigator.userAgent, tfjsVersion: tf.version.tfjs };
}
