// The shipped examples (examples/, which `npm start` serves) compile cleanly:
// every object they define is accepted with all references resolved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { parseManifest } from '../sources/manifest-parse.ts';
import { compile } from './builder.ts';
import { inputOf, OPTIONS } from './fixtures.ts';

const dirs = [new URL('../../examples/', import.meta.url)];

test('examples/ compiles with every object Accepted and ResolvedRefs', () => {
  const objs = [];
  for (const dir of dirs) {
    for (const f of readdirSync(dir).filter((n) => /\.ya?ml$/.test(n)).sort()) {
      const parsed = parseManifest(f, readFileSync(new URL(f, dir), 'utf8'));
      assert.equal(parsed.error, undefined, `${f}: ${parsed.error?.message}`);
      assert.deepEqual(parsed.warnings, [], f);
      objs.push(...parsed.objects.map((o) => o.obj));
    }
  }
  const res = compile(inputOf(objs), OPTIONS);
  assert.ok([...res.conditions.keys()].some((k) => k.startsWith('Route/')), 'the Route examples are compiled');
  for (const [key, conds] of res.conditions) {
    assert.deepEqual(conds.map((c) => `${c.type}=${c.status}`), ['Accepted=True', 'ResolvedRefs=True'], `${key}: ${JSON.stringify(conds)}`);
  }
});
