import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR, lowerName, Parser } from './llhttp.ts';

/** Everything a parser reported, as one log. */
function recorder(): { log: string[]; handler: ConstructorParameters<typeof Parser>[1] } {
  const log: string[] = [];
  return {
    log,
    handler: {
      onMessageBegin: () => log.push('begin'),
      onUrl: (u) => log.push(`url ${u}`),
      onHeader: (n, v) => log.push(`h ${n}=${v}`),
      onHeadersComplete: () => { log.push('head'); return 0; },
      onBody: (b) => log.push(`body ${b.toString('latin1')}`),
      onTrailer: (n, v) => log.push(`t ${n}=${v}`),
      onMessageComplete: () => { log.push('done'); return 0; },
    },
  };
}

/** Feeds `input` to `p` in pieces cut at `cuts`, frees it; `log` with body pieces merged so splits compare equal. */
function feed(p: Parser, log: readonly string[], input: string, cuts: number[]): { log: string[]; ret: number } {
  let ret = 0;
  let at = 0;
  for (const cut of [...cuts, input.length]) {
    ret = p.execute(Buffer.from(input.slice(at, cut), 'latin1'));
    at = cut;
    if (ret !== ERROR.OK) break;
  }
  p.free();
  const merged: string[] = [];
  for (const e of log) {
    const last = merged.at(-1);
    if (e.startsWith('body ') && last?.startsWith('body ')) merged[merged.length - 1] = last + e.slice(5);
    else merged.push(e);
  }
  return { log: merged, ret };
}

/** Parses `input` in pieces cut at `cuts`; body pieces are merged so splits compare equal. */
function parse(input: string, cuts: number[] = [], type: 'request' | 'response' = 'request'): { log: string[]; ret: number } {
  const r = recorder();
  const p = new Parser(type, r.handler, 16 * 1024);
  const { log: merged, ret } = feed(p, r.log, input, cuts);
  return { log: merged, ret };
}

const cases: Array<{ name: string; input: string; want: string[] }> = [
  {
    name: 'a GET with headers, one empty',
    input: 'GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nAccept: */*\r\n\r\n',
    want: ['begin', 'url /a?b=1', 'h Host=x', 'h X-Empty=', 'h Accept=*/*', 'head', 'done'],
  },
  {
    name: 'two empty values in a row',
    input: 'GET / HTTP/1.1\r\nA:\r\nB:\r\nHost: h\r\n\r\n',
    want: ['begin', 'url /', 'h A=', 'h B=', 'h Host=h', 'head', 'done'],
  },
  {
    name: 'a Content-Length body',
    input: 'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello',
    want: ['begin', 'url /p', 'h Host=x', 'h Content-Length=5', 'head', 'body hello', 'done'],
  },
  {
    name: 'a chunked body with a trailer',
    input: 'POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n',
    want: ['begin', 'url /p', 'h Host=x', 'h Transfer-Encoding=chunked', 'head', 'body abcde', 't X-T=1', 'done'],
  },
];

for (const c of cases) {
  test(`llhttp: ${c.name}, whole and split at every byte`, () => {
    assert.deepEqual(parse(c.input), { log: c.want, ret: ERROR.OK });
    for (let i = 1; i < c.input.length; i++) {
      assert.deepEqual(parse(c.input, [i]), { log: c.want, ret: ERROR.OK }, `split at ${i}`);
    }
  });
}

test('llhttp: strict parsing refuses smuggling shapes', () => {
  const bad = [
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n',
    'GET / HTTP/1.1\nHost: x\n\n',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n',
    'GET / HTTP/1.1\r\nHost : x\r\n\r\n',
  ];
  for (const input of bad) assert.notEqual(parse(input).ret, ERROR.OK, JSON.stringify(input));
});

test('llhttp: the head limit is enforced, and reported as an overflow', () => {
  const r = recorder();
  const p = new Parser('request', r.handler, 100);
  const ret = p.execute(Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(200)}\r\n\r\n`));
  assert.notEqual(ret, ERROR.OK);
  assert.equal(p.headerOverflow, true);
  assert.equal(p.errorReason(), 'header overflow');
  p.free();
});

test('llhttp: a pause after a message leaves the next one where it starts', () => {
  const r = recorder();
  const p = new Parser('request', { ...r.handler, onMessageComplete: () => ERROR.PAUSED }, 16 * 1024);
  const one = 'GET /1 HTTP/1.1\r\nHost: x\r\n\r\n';
  const input = Buffer.from(`${one}GET /2 HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.equal(p.execute(input), ERROR.PAUSED);
  assert.equal(p.stoppedAt, one.length);
  p.resume();
  assert.equal(p.execute(input.subarray(p.stoppedAt)), ERROR.PAUSED);
  assert.deepEqual(r.log.filter((e) => e.startsWith('url')), ['url /1', 'url /2']);
  p.free();
});

test('llhttp: a response read to the close, and the method and status accessors', () => {
  const r = recorder();
  const p = new Parser('response', r.handler, 16 * 1024);
  assert.equal(p.execute(Buffer.from('HTTP/1.1 200 OK\r\nServer: s\r\n\r\npartial')), ERROR.OK);
  assert.equal(p.status(), 200);
  assert.equal(p.needsEof(), true);
  assert.equal(p.finish(), ERROR.OK);
  assert.deepEqual(r.log, ['begin', 'h Server=s', 'head', 'body partial', 'done']);
  p.free();
  const q = new Parser('request', recorder().handler, 16 * 1024);
  q.execute(Buffer.from('DELETE /x HTTP/1.0\r\n\r\n'));
  assert.equal(q.method(), 'DELETE');
  assert.equal(q.httpMinor(), 0);
  assert.equal(q.shouldKeepAlive(), false);
  q.free();
});

test('llhttp: header names come back exactly as sent through the name cache, colliding or split', () => {
  // 800 distinct names (some differing only in case) fill the cache's 256
  // slots many times over, so slots are shared and replaced.
  const names: string[] = [];
  for (let i = 0; i < 400; i++) names.push(`x-name-${i.toString(36)}`, `X-Name-${i.toString(36)}`);
  names.push('x'.repeat(32), 'x'.repeat(33), 'Y'.repeat(40));
  const fields = names.map((n, i) => `${n}: ${i}\r\n`).join('');
  const input = `GET / HTTP/1.1\r\nHost: a\r\n${fields}\r\n`;
  for (const cuts of [[], [input.indexOf('X-Name-1') + 3], [20, 41, 77]]) {
    for (let pass = 0; pass < 2; pass++) {
      const { log, ret } = parse(input, cuts);
      assert.equal(ret, ERROR.OK);
      const got = log.filter((e) => e.startsWith('h ')).slice(1);
      assert.deepEqual(got, names.map((n, i) => `h ${n}=${i}`), `cuts ${cuts.join(',')}, pass ${pass}`);
    }
  }
});

test('lowerName: the lower case of a name, whatever the memo holds', () => {
  for (const n of ['Content-Length', 'content-length', 'X-ABC', 'x-abc', 'Host', 'ÀÉ']) assert.equal(lowerName(n), n.toLowerCase());
  for (let i = 0; i < 3000; i++) assert.equal(lowerName(`X-Mixed-${i}`), `x-mixed-${i}`);
  assert.equal(lowerName('Content-Length'), 'content-length');
});

/** As parse(), on a response parser with `rawHead`: the fields of a head read in one piece are logged from it. */
function parseRaw(input: string, cuts: number[] = []): { log: string[]; ret: number; rawHeads: number } {
  const r = recorder();
  let rawHeads = 0;
  const p: Parser = new Parser('response', {
    ...r.handler,
    onHeadersComplete: () => {
      const raw = p.rawHead!;
      if (raw.active) {
        rawHeads++;
        for (let i = 0; i < raw.count; i++) r.log.push(`h ${raw.names[i]}=${raw.value(i)}`);
      }
      r.log.push('head');
      return 0;
    },
  }, 16 * 1024, true);
  const { log: merged, ret } = feed(p, r.log, input, cuts);
  return { log: merged, ret, rawHeads };
}

test('llhttp rawHead: the same fields as onHeader gives, whole and split at every byte', () => {
  const responses = [
    'HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 26 Nov 2026 15:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello',
    'HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Trail: a b \t \r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nX-Empty2:\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nA: 1\r\n\r\n2\r\nok\r\n0\r\nX-T: 1 \r\n\r\n',
    'HTTP/1.1 204 No Content\r\n\r\n',
  ];
  for (const input of responses) {
    const want = parse(input, [], 'response');
    assert.equal(want.ret, ERROR.OK);
    const whole = parseRaw(input);
    assert.deepEqual({ log: whole.log, ret: whole.ret }, want);
    assert.ok(whole.rawHeads >= 1, 'a head read in one piece comes raw');
    for (let i = 1; i < input.length; i++) {
      const split = parseRaw(input, [i]);
      assert.deepEqual({ log: split.log, ret: split.ret }, parse(input, [i], 'response'), `split at ${i}`);
    }
  }
});

test('llhttp rawHead: a head split across reads comes through onHeader, and the next head raw again', () => {
  const one = 'HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n';
  const r = recorder();
  const p = new Parser('response', r.handler, 16 * 1024, true);
  assert.equal(p.execute(Buffer.from(one.slice(0, 24))), ERROR.OK);
  assert.equal(p.execute(Buffer.from(one.slice(24))), ERROR.OK);
  assert.deepEqual(r.log, ['begin', 'h A=1', 'h B=2', 'h Content-Length=0', 'head', 'done']);
  let active = false;
  const q: Parser = new Parser('response', { ...r.handler, onHeadersComplete: () => { active = q.rawHead!.active; return 0; } }, 16 * 1024, true);
  assert.equal(q.execute(Buffer.from(one)), ERROR.OK);
  assert.equal(active, true);
  assert.equal(q.rawHead!.active, false, 'only valid inside onHeadersComplete');
  p.free();
  q.free();
});

test('llhttp: values and targets come back exactly as sent through the span cache, colliding, near-equal or split', () => {
  // 1,200 short values (some one byte apart, some obs-text) and targets fill
  // the cache's slots many times over, so entries are shared and replaced.
  const vals: string[] = [];
  for (let i = 0; i < 300; i++) vals.push(`v${i}`, `v${i} `.trim() + 'x', `caf\u00e9-${i}`, `${'k'.repeat(i % 70)}${i}`);
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < vals.length; i += 7) {
      const some = vals.slice(i, i + 7);
      const target = `/t/${encodeURIComponent(some[0]!)}`;
      const input = `GET ${target} HTTP/1.1\r\nHost: a\r\n${some.map((v, k) => `X-${k}: ${v}\r\n`).join('')}\r\n`;
      for (const cuts of [[], [input.length - 9]]) {
        const { log, ret } = parse(input, cuts);
        assert.equal(ret, ERROR.OK);
        assert.deepEqual(log.filter((e) => e.startsWith('url ') || e.startsWith('h X-')), [`url ${target}`, ...some.map((v, k) => `h X-${k}=${v}`)], `pass ${pass}, cuts ${cuts.join(',')}`);
      }
    }
  }
});
