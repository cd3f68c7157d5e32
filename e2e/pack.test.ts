// End-to-end: the package as users get it. `npm pack` (which builds dist/),
// installed into an empty folder with npm, must run `turnout --help`,
// `kubectl-turnout check` and `turnout local` on Node 24, from JavaScript
// (Node does not strip types under node_modules), and ship no tests, no
// TypeScript sources and no development files. What the container image
// would hold is the same production install (Dockerfile).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Server } from 'node:http';
import { echoBackend, eventually, freePort, get } from './harness.ts';
import { routesYaml, servicesYaml } from './manifests.ts';
import { spawn } from 'node:child_process';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
let dir: string;
let files: string[] = [];
let env: NodeJS.ProcessEnv;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'turnout-pack-'));
  const { stdout } = await run('npm', ['pack', '--pack-destination', dir, '--json'], { cwd: ROOT, maxBuffer: 16 << 20 });
  const packed = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  files = packed[0]!.files.map((f) => f.path);
  const app = join(dir, 'app');
  await run('mkdir', [app]);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, packed[0]!.filename)], { cwd: app, maxBuffer: 16 << 20 });
  // node_modules/.bin first: its `node` is the Node 24 the package depends on.
  env = { ...process.env, PATH: `${join(app, 'node_modules', '.bin')}:${process.env.PATH}` };
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the package holds the built JavaScript, the CRD and docs, and nothing for development', () => {
  assert.ok(files.includes('dist/cli/turnout.js') && files.includes('dist/proxy/worker.js'));
  assert.ok(files.includes('crds/turnout.dev_routes.yaml') && files.includes('bin/kubectl-turnout.js'));
  const unwanted = files.filter((f) => /\.test\.|(^|\/)(e2e|bench|testdata|node_modules)\/|\.ts$|testkit|fixtures|\.go$|^\.ci/.test(f));
  assert.deepEqual(unwanted, []);
});

test('installed with npm: turnout --help and kubectl-turnout check run on Node 24', async () => {
  const help = await run('turnout', ['--help'], { env });
  assert.match(help.stdout, /Usage: turnout <command>/);
  const version = await run('node', ['--version'], { env });
  assert.match(version.stdout, /^v24\./);
  const examples = join(dir, 'app', 'node_modules', 'turnout', 'examples');
  const check = await run('kubectl-turnout', ['check', '-f', examples], { env });
  assert.match(check.stdout, /0 with problems/);
});

test('installed with npm: turnout local serves a manifest folder', async () => {
  const backends: Record<string, { server: Server; port: number }> = {};
  for (const n of ['a', 'b', 'c']) backends[n] = await echoBackend(n);
  const manifests = join(dir, 'manifests');
  await run('mkdir', [manifests]);
  await writeFile(join(manifests, 'services.yaml'), servicesYaml({ a: backends.a!.port, b: backends.b!.port, c: backends.c!.port }));
  await writeFile(join(manifests, 'routes.yaml'), routesYaml({ main: 'b' }));
  const [http, https, admin] = [await freePort(), await freePort(), await freePort()];
  const child = spawn('turnout', ['local', '--manifests', manifests, '--http-port', String(http), '--https-port', String(https), '--admin-port', String(admin)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  try {
    await eventually('ready', async () => (await get(admin, '/readyz')).status === 200, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${out}`);
    });
    assert.equal((await get(http, '/steady', { host: 'b.test' })).body, 'b /steady');
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    for (const b of Object.values(backends)) b.server.close();
  }
});
