/** Every GPU buffer belongs to one of these; the UI stacks them in this order. */
export const CATEGORIES = ['weights', 'grads', 'optimizer', 'activations', 'workspace', 'data', 'validation', 'staging'] as const;
export type Category = (typeof CATEGORIES)[number];

export const zeroByCategory = (): Record<Category, number> =>
  Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
