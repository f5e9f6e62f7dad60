import { defineConfig } from 'vitest/config';

// Node tests run on Dawn with SwiftShader (the Vulkan CPU driver from Debian's chromium package).
process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';

export default defineConfig({
  test: {
    include: ['tests/unit/**/*.test.ts'],
    environment: 'node',
    // SwiftShader already uses every core; test files run one after another.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
