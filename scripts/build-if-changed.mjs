#!/usr/bin/env node
// `npm start`'s prestart: compile src/ into dist/ only when the inputs changed since the last
// build. Under arm64 emulation tsc took 78-100 s of the 126 s to healthy when every start
// compiled. The inputs are hashed (paths and contents of src/, tsconfig.json, package.json,
// whose "type" decides the output, and the TypeScript version), so an edit, a deleted file or
// a branch switch all rebuild, whatever the files' times say.
// Plain JS (no tsx): it must be cheap to start. The systemd unit runs dist/ and never this.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url));
const stamp = join(root, 'dist', '.inputs-sha256');
const entry = join(root, 'dist', 'bin', 'safesphere-edge.js');

function files(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((d) => (d.isDirectory() ? files(join(dir, d.name)) : [join(dir, d.name)]));
}

const hash = createHash('sha256');
const tsPkg = join(root, 'node_modules', 'typescript', 'package.json');
hash.update(`typescript ${existsSync(tsPkg) ? JSON.parse(readFileSync(tsPkg, 'utf8')).version : 'none'}\0`);
for (const f of [join(root, 'tsconfig.json'), join(root, 'package.json'), ...files(join(root, 'src'))]) {
  hash.update(`${relative(root, f)}\0`).update(readFileSync(f)).update('\0');
}
const want = hash.digest('hex');

if (existsSync(entry) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === want) {
  process.stderr.write('build: dist/ is current (sources unchanged), not compiling\n');
} else {
  process.stderr.write('build: sources changed since the last build, compiling dist/\n');
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], {
    cwd: root,
    stdio: 'inherit',
  });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
  // Written only after a successful build, atomically: a failed or interrupted one rebuilds.
  writeFileSync(`${stamp}.${process.pid}`, `${want}\n`);
  renameSync(`${stamp}.${process.pid}`, stamp);
}
