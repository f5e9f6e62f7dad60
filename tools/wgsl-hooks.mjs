// Node module hooks: `import src from './x.wgsl?raw'` yields the file's text, as Vite does in the app.
export async function load(url, context, nextLoad) {
  if (url.endsWith('?raw')) {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(new URL(url.slice(0, -4)), 'utf8');
    return { format: 'module', source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
  }
  return nextLoad(url, context);
}
