// Builds the page into the Python package (src/voxplug/web/static/), which the wheel carries:
// one bundled script with livekit-client inside, the stylesheet, the HTML, and the licences
// of every npm package in the bundle. No CDN, no network at run time. Run through `make web`
// (npm ci from the lockfile first).
import { build } from 'esbuild';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'src', 'voxplug', 'web', 'static');

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const result = await build({
  entryPoints: [
    { in: join(here, 'src', 'main.js'), out: 'app' },
    { in: join(here, 'src', 'style.css'), out: 'app' },
  ],
  outdir: out,
  bundle: true,
  minify: true,
  format: 'esm',
  // the oldest browsers livekit-client supports with WebRTC and WebAudio
  target: ['chrome87', 'firefox78', 'safari14', 'edge88'],
  legalComments: 'none', // collected whole below instead
  metafile: true,
  logLevel: 'warning',
});
await copyFile(join(here, 'index.html'), join(out, 'index.html'));

// the packages whose code is in the bundle, each with its licence text: those esbuild read,
// and every runtime dependency in the lockfile (livekit-client's dist inlines its own)
const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (match) packages.add(match[1]);
}
const lock = JSON.parse(await readFile(join(here, 'package-lock.json'), 'utf8'));
for (const [path, entry] of Object.entries(lock.packages)) {
  if (path && !entry.dev) packages.add(path.replace(/^.*node_modules\//, ''));
}
const sections = [];
for (const name of [...packages].sort()) {
  const dir = join(here, 'node_modules', name);
  const meta = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
  const files = (await readdir(dir)).filter((f) => /^(licen[cs]e|copying|notice)/i.test(f)).sort();
  const texts = await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')));
  const body = texts.length ? texts.join('\n\n') : `Licensed under ${meta.license} (no licence file in the package).`;
  const license = String(meta.license).startsWith('(') ? meta.license : `(${meta.license})`;
  sections.push(`${name} ${meta.version} ${license}\n${'-'.repeat(60)}\n${body.trim()}\n`);
}
await writeFile(
  join(out, 'THIRD_PARTY_LICENSES.txt'),
  `The page's script bundles these npm packages:\n\n${sections.join('\n\n')}`,
);
