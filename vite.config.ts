import { defineConfig } from 'vite';

/**
 * The app: index.html mounts <lab-app>; the engine runs in src/worker/lab.worker.ts. WGSL comes from the
 * top-level shaders/ folder through `?raw` imports, which Vite inlines into whichever bundle (page or
 * worker) imports them. public/ (the demo clip) is copied as is.
 */
// Cross-origin isolation gives workers SharedArrayBuffer and fine-grained timers (onnxruntime-web's
// threads, it/s measurements); every asset is same-origin, so nothing is blocked by it.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  // Relative asset URLs: the built app runs from any path (a file server, a subfolder of a site).
  base: './',
  worker: { format: 'es' },
  build: { target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 1024 },
  server: { host: '127.0.0.1', port: 5173, headers: isolation },
  preview: { host: '127.0.0.1', port: 5173, headers: isolation },
});
