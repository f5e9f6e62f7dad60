import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * Browser tests: vitest in Node drives headless chromium through playwright-core. The global setup builds
 * the app and serves it on 127.0.0.1; each test file launches its own browser with a fresh profile.
 *   npx vitest run --config tests/browser/vitest.config.ts
 */
export default defineConfig({
  root: resolve(fileURLToPath(import.meta.url), '../../..'),
  test: {
    include: ['tests/browser/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['tests/browser/global-setup.ts'],
    // One browser at a time: SwiftShader already uses every core.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
