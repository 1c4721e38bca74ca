#!/usr/bin/env node
// The kv-lab command. It runs the compiled JavaScript in dist/ (built by `npm install` through the
// prepare script), so that starting it does not transpile the tree. Without dist/ — or with
// KV_LAB_FROM_SOURCE=1 while developing — it runs the TypeScript sources through tsx instead.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/src/cli/main.js', import.meta.url);
if (existsSync(compiled) && process.env.KV_LAB_FROM_SOURCE !== '1') {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
