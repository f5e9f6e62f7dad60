/** Which layer of a checkpoint file a problem was found in; the UI shows it next to the message. */
export type CheckpointPart = 'safetensors' | 'zip' | 'pickle' | 'torch' | 'tensor';

/**
 * A checkpoint file (safetensors or torch .pt) is malformed, truncated, hostile or uses a feature
 * latent-lab does not read. Every reader in src/io throws only this class (or its subclass) for
 * problems in the file, so callers can tell a bad file from a bug.
 */
export class CheckpointFormatError extends Error {
  override name = 'CheckpointFormatError';
  constructor(
    readonly part: CheckpointPart,
    message: string,
  ) {
    super(message);
  }
}

/** A pickle asked for a Python global or operation outside the state_dict allow-list; nothing was run. */
export class UnsafePickleError extends CheckpointFormatError {
  override name = 'UnsafePickleError';
  constructor(
    /** What was refused, e.g. "os.system" or "REDUCE of torch.FloatStorage". */
    readonly refused: string,
    where: string,
  ) {
    super(
      'pickle',
      `Refused to load: the checkpoint's pickle asks for ${refused} (${where}), which a PyTorch state_dict never needs. ` +
        `Nothing was executed. Only open checkpoints from sources you trust; if this file is yours, re-save it with ` +
        `torch.save({"global_step": step, "state_dict": model.state_dict()}) or as .safetensors.`,
    );
  }
}
