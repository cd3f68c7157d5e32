// Compiler benchmark (not a test): full builds at 1k and 10k Ingresses, then a
// one-path change at 10k compiled against the previous snapshot and diffed the
// way the snapshot stream does it.
//
//   node_modules/.bin/node bench/compile.ts
//
// Each Ingress has one host, two paths, its own Service and an EndpointSlice
// with three ready endpoints; every 10th has TLS with one of a few shared
// Secrets. Key pairs are generated with openssl at start (distinct pairs, so
// the PEM cache cannot collapse them into one); without openssl the committed
// test pair is used for all of them, which the output says.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import jsonpatch from 'fast-json-patch';
import type { Snapshot } from '../api/snapshot.ts';
import { deepFreeze } from '../api/version.ts';
import type { EndpointSlice, KubeObject } from '../controller/k8s/types.ts';
import { compile } from '../controller/compile/builder.ts';
import { recompileEndpoints } from '../controller/compile/endpoints.ts';
import { exactPath, ingress, inputOf, OPTIONS, prefixPath, rule, service, slice, tls, tlsSecret } from '../controller/compile/fixtures.ts';
import { FOO_CERT_PEM, FOO_KEY_PEM } from '../controller/compile/testdata.ts';

const SIZES = [1_000, 10_000];
const RUNS = 5;
export const SECRETS = 4;

/** `count` self-signed RSA-2048 pairs from openssl, or the committed pair repeated. */
export function keyPairs(count: number): { pairs: Array<{ cert: string; key: string }>; source: string } {
  const dir = mkdtempSync(join(tmpdir(), 'turnout-bench-'));
  try {
    const pairs = [];
    for (let i = 0; i < count; i++) {
      const [crt, key] = [join(dir, `${i}.crt`), join(dir, `${i}.key`)];
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '365', '-subj', `/CN=bench${i}.example.com`,
        '-keyout', key, '-out', crt], { stdio: 'ignore' });
      pairs.push({ cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') });
    }
    return { pairs, source: `openssl (${count} distinct RSA-2048 pairs)` };
  } catch {
    return { pairs: Array.from({ length: count }, () => ({ cert: FOO_CERT_PEM, key: FOO_KEY_PEM })), source: 'committed test pair (openssl unavailable)' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function fleet(n: number, pairs: ReadonlyArray<{ cert: string; key: string }>): KubeObject[] {
  const objs: KubeObject[] = pairs.map((p, i) => tlsSecret(`tls-${i}`, p.cert, p.key));
  for (let i = 0; i < n; i++) {
    const host = `app-${i}.bench.example.com`;
    const svc = `svc-${i}`;
    const net = `10.${(i >> 8) & 255}.${i & 255}`;
    objs.push(
      ingress(`ing-${i}`, {
        rules: [rule(host, prefixPath('/', svc), exactPath('/healthz', svc))],
        ...(i % 10 === 0 ? { tls: [tls(`tls-${(i / 10) % pairs.length}`, host)] } : {}),
      }, { creationTimestamp: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString() }),
      service(svc),
      slice(svc, [`${net}.1`, `${net}.2`, `${net}.3`]),
    );
  }
  return objs;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function timed<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const v = f();
  return [v, performance.now() - t0];
}

// Runs only when executed directly: bench/apply.ts imports the fleet generator.
if (import.meta.main) {
  const { pairs, source } = keyPairs(SECRETS);
  console.log(`Node ${process.version}; TLS material: ${source}; ${RUNS} full compiles per size (first run includes PEM checks, later runs hit the PEM cache)\n`);
  const row = (cells: unknown[]) => console.log(cells.map((c, i) => String(c).padStart([7, 10, 11, 16, 34][i]!)).join(''));
  row(['N', 'first ms', 'median ms', 'snapshot bytes', 'version']);

  let last: { objs: KubeObject[]; snapshot: Snapshot } | undefined;
  for (const n of SIZES) {
    const objs = fleet(n, pairs);
    const input = inputOf(objs);
    const times: number[] = [];
    let snapshot: Snapshot | undefined;
    for (let r = 0; r < RUNS; r++) {
      const [res, ms] = timed(() => compile(input, OPTIONS));
      times.push(ms);
      snapshot = res.snapshot;
    }
    const bytes = Buffer.byteLength(JSON.stringify(snapshot));
    row([n, times[0]!.toFixed(1), median(times).toFixed(1), bytes, snapshot!.version]);
    last = { objs, snapshot: snapshot! };
  }

  // One path of one Ingress changes at 10k.
  const { objs, snapshot: prev } = last!;
  const changed = structuredClone(objs);
  const target = changed.find((o) => o.kind === 'Ingress' && o.metadata.name === 'ing-4242') as ReturnType<typeof ingress>;
  target.spec!.rules![0]!.http!.paths[0]!.path = '/v2';
  const input = inputOf(changed);

  const recompiles: number[] = [];
  let withPrev = compile(input, OPTIONS, prev);
  for (let r = 0; r < RUNS; r++) {
    const [res, ms] = timed(() => compile(input, OPTIONS, prev));
    recompiles.push(ms);
    withPrev = res;
  }
  const msWithPrev = median(recompiles);
  const [ops, msCompare] = timed(() => jsonpatch.compare(prev, withPrev.snapshot));
  const [fresh] = timed(() => compile(input, OPTIONS));
  const [opsFresh, msCompareFresh] = timed(() => jsonpatch.compare(prev, fresh.snapshot));
  let shared = 0;
  for (const [h, vh] of Object.entries(withPrev.snapshot.virtualHosts)) if (vh === prev.virtualHosts[h]) shared++;

  console.log(`\nDelta at N=${SIZES.at(-1)}: path "/" of Ingress default/ing-4242 changed to "/v2"`);
  console.log(`  recompile with previous:    median ${msWithPrev.toFixed(1)} ms of ${RUNS} (${shared} of ${Object.keys(withPrev.snapshot.virtualHosts).length} vhosts === previous)`);
  console.log(`  compare() old vs new:       ${ops.length} ops (${ops.map((o) => `${o.op} ${o.path}`).join(', ')})`);
  console.log(`  delta bytes:                ${Buffer.byteLength(JSON.stringify(ops))} (full snapshot ${Buffer.byteLength(JSON.stringify(withPrev.snapshot))})`);
  console.log(`  compare ms:                 ${msCompare.toFixed(2)}`);
  console.log(`  for contrast, without previous (no sharing): compare ${msCompareFresh.toFixed(1)} ms, ${opsFresh.length} ops`);

  // One endpoint of one Service changes at 10k, RUNS times in a row (the
  // slice's address flips), each built on the one before as the build loop
  // does: the endpoint fast path against a full compile. Frozen objects, as
  // the controller's cache hands them (the fast path then resolves the
  // changed Service only).
  const frozenObjs = objs.map((o) => deepFreeze(structuredClone(o)));
  const at = frozenObjs.findIndex((o) => o.kind === 'EndpointSlice' && o.metadata.name?.startsWith('svc-4242'));
  const withAddress = (address: string) => {
    const copy = structuredClone(frozenObjs[at]) as EndpointSlice;
    copy.endpoints![0]!.addresses = [address];
    const list = frozenObjs.slice();
    list[at] = deepFreeze(copy);
    return inputOf(list);
  };
  const epInputs = [withAddress('10.250.0.1'), withAddress('10.250.0.2')];
  const fastTimes: number[] = [];
  const fullTimes: number[] = [];
  let fastBase = compile(inputOf(frozenObjs), OPTIONS);
  const first = fastBase.snapshot;
  for (let r = 0; r < RUNS; r++) {
    const [f, fms] = timed(() => recompileEndpoints(epInputs[r % 2]!, fastBase));
    if (f === undefined) throw new Error('bench: the endpoint fast path declined');
    fastTimes.push(fms);
    fastBase = f;
  }
  let fullBase = compile(inputOf(frozenObjs), OPTIONS);
  for (let r = 0; r < RUNS; r++) {
    const [f, ms] = timed(() => compile(epInputs[r % 2]!, OPTIONS, fullBase.snapshot));
    fullTimes.push(ms);
    fullBase = f;
  }
  const slice42 = frozenObjs[at] as EndpointSlice;
  const epOps = jsonpatch.compare(first, recompileEndpoints(epInputs[0]!, compile(inputOf(frozenObjs), OPTIONS))!.snapshot);
  console.log(`\nEndpoint change at N=${SIZES.at(-1)}: one address of ${slice42.metadata.name} replaced, ${RUNS} times in a row`);
  console.log(`  endpoint fast path:         median ${median(fastTimes).toFixed(1)} ms of ${RUNS}`);
  console.log(`  full compile with previous: median ${median(fullTimes).toFixed(1)} ms of ${RUNS}`);
  console.log(`  delta: ${epOps.length} ops, ${Buffer.byteLength(JSON.stringify(epOps))} bytes`);
}
