import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCheck } from './check.ts';

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCheck(argv, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

const BAD_INGRESS = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bad, namespace: default}
spec:
  ingressClassName: turnout
  rules:
    - host: a.example.com
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: nope, port: {number: 80}}}}]}
`;

test('the shipped examples check clean: exit 0, one ok line per object', async () => {
  const r = await run(['-f', EXAMPLES]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^ok {4}Route\/default\/tls-passthrough$/m);
  assert.doesNotMatch(r.out, /FAIL|error:/);
});

test('problems: exit 1 with each condition that is wrong, and file problems with their line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'turnout-check-'));
  try {
    await writeFile(join(dir, 'bad.yaml'), BAD_INGRESS);
    await writeFile(join(dir, 'broken.yaml'), 'kind: Ingress\nmetadata: {name: x\n');
    const r = await run(['-f', dir, '-f', join(dir, 'missing.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.out, /^FAIL {2}Ingress\/default\/bad\n {8}ResolvedRefs=False ServiceNotFound: Service default\/nope not found$/m);
    assert.match(r.out, /^error: .*broken\.yaml:\d+: /m);
    assert.match(r.out, /^error: .*missing\.yaml: ENOENT/m);
    const json = JSON.parse((await run(['-f', join(dir, 'bad.yaml'), '-o', 'json'])).out) as { verdicts: Array<{ object: string; ok: boolean }> };
    assert.deepEqual(json.verdicts.map((v) => [v.object, v.ok]), [['Ingress/default/bad', false]]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('usage errors: exit 2 naming the problem', async () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /-f FILE\|DIR is required/],
    [['-f', EXAMPLES, '--bogus'], /bogus/],
    [['-f', EXAMPLES, '-o', 'yaml'], /-o must be text or json/],
  ];
  for (const [argv, want] of cases) {
    const r = await run(argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.err, want);
  }
});
