/**
 * Host-side layout changes between LatentSync's [B, C, F, H, W] and the folded [B*F, C, H, W] the models run
 * on (frames of a sample adjacent). Used where tensors cross the host anyway: file inputs and outputs.
 */
export function foldFrames(data: Float32Array, [b, c, f, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  const plane = h * w;
  for (let bi = 0; bi < b; bi++)
    for (let ci = 0; ci < c; ci++)
      for (let fi = 0; fi < f; fi++) {
        const src = (((bi * c + ci) * f + fi) * plane);
        const dst = (((bi * f + fi) * c + ci) * plane);
        out.set(data.subarray(src, src + plane), dst);
      }
  return out;
}

/** The inverse of foldFrames: [B*F, C, H, W] -> [B, C, F, H, W]. */
export function unfoldFrames(data: Float32Array, [b, c, f, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  const plane = h * w;
  for (let bi = 0; bi < b; bi++)
    for (let ci = 0; ci < c; ci++)
      for (let fi = 0; fi < f; fi++) {
        const dst = (((bi * c + ci) * f + fi) * plane);
        const src = (((bi * f + fi) * c + ci) * plane);
        out.set(data.subarray(src, src + plane), dst);
      }
  return out;
}
