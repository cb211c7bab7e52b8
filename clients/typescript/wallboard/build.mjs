// Bundles the wallboard (TypeScript, Chart.js, graphql-ws, the generated client) into one
// script for the binary to embed: `node wallboard/build.mjs [OUTFILE]` (default
// dist/wallboard.js). Run after `npm run generate`; needs no network.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outfile = process.argv[2] ?? join(here, '..', 'dist', 'wallboard.js');

await build({
  entryPoints: [join(here, 'src', 'main.ts')],
  bundle: true,
  minify: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020'],
  outfile,
  legalComments: 'eof',
  logLevel: 'warning',
});
console.log(`wrote ${outfile}`);
