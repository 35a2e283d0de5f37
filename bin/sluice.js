#!/usr/bin/env -S node --max-semi-space-size=16
// The flag above: a smaller young generation. Streaming work (imports, runs) allocates many short-lived
// objects, and Node 24's default semi-space lets the heap grow ~100 MB for no speed gain
// (`npm run bench:import`: 380 MB -> 293 MB peak RSS on server Postgres, same rows/s).
// Plain JavaScript that any Node can parse, so an old Node gets a clear message instead of a syntax error.
const major = Number.parseInt(process.versions.node.split('.')[0], 10);
if (major < 22) {
  process.stderr.write(
    `sluice needs Node.js 22 or newer (24 recommended); this is Node ${process.versions.node}.\n` +
      "Run it through npm so the project's pinned Node 24 is used: `npx sluice ...` or `npm exec sluice -- ...`,\n" +
      'or install Node 24 (https://nodejs.org).\n',
  );
  process.exit(1);
}
const { existsSync } = await import('node:fs');
const { fileURLToPath } = await import('node:url');
const built = new URL('../dist/cli/entry.js', import.meta.url);
const source = new URL('../src/cli/entry.ts', import.meta.url);
if (existsSync(fileURLToPath(source))) {
  // Running from a checkout: execute the TypeScript sources directly, so they are never stale.
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(built.href);
}
