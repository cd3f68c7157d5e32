// The grammar of fuzz.test.ts: seeded generation of the byte sequences a
// client may send an HTTP/1.1 proxy, mostly well-formed requests with one or
// two things bent (the shapes that split parsers apart: framing, field
// syntax, versions, targets, limits), pipelined 1 to 3 deep, cut into
// writes at random points. A seed names a whole corpus, so a divergence seen
// once can be replayed and shrunk.

/** A deterministic PRNG (mulberry32): the same seed gives the same corpus on every machine. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

/** One generated request: its bytes and what the reader of the answers must know. */
export interface GenRequest {
  /** The message as its framing announces it. */
  readonly bytes: string;
  /** Bytes past the announced end (a body longer than its length), else ''. */
  readonly tail: string;
  /** Its answer has no body. */
  readonly head: boolean;
}

/** One generated exchange: requests back to back, cut into writes. */
export interface GenCase {
  readonly index: number;
  readonly requests: readonly GenRequest[];
  /** The requests' bytes, cut at random points (one write each). */
  readonly pieces: readonly string[];
  readonly fin: boolean;
}

const HOST = 'Host: example.test';
/** The head size both engines are held to (servers.ts DEFAULT_LIMITS.maxHeaderSize). */
const MAX_HEAD = 16 * 1024;

const ODD_METHODS = ['PATCH', 'get', 'G@T', 'M-SEARCH', 'PROPFIND', 'CONNECT', 'TRACE', 'X'.repeat(40), 'GET\t', 'QUERY'];
const TARGETS = [
  '/', '/a?x=1', '/p/%2e%2e/etc', '/%00', '/%zz', '/a%20b', 'http://example.test/abs', 'http://other.test:8080/x?y=1',
  '*', '/a b', '/\x7f', '/\xe9t\xe9', '//double//slash', '/a#frag', 'example.test:443', '/?q=a\tb', 'HTTP://EXAMPLE.TEST/',
  '/%', '/a/../../b', '/~user/;param', 'https://example.test/s', '/' + 'a'.repeat(8_000), '/\x00',
];
const ODD_VERSIONS = ['HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/11', 'HTTP/1.1 ', 'HTTP/1.1\t', 'HTTP/1', 'HTTP/3.0', 'HTTP/1.01'];
const HOSTS = [
  'host: example.test', 'HOST: example.test', 'Host: example.test:80', 'Host: ', 'Host: exa mple.test', 'Host: [::1]:8080',
  'Host: example.test\r\nHost: example.test', 'Host: example.test\r\nHost: other.test', 'Host:example.test', 'Host: example.test ',
  'Host: user@example.test', 'Host: example.test/path', 'Host: \xe9.test',
];
const CONNECTIONS = [
  'close', 'keep-alive', 'Keep-Alive', 'CLOSE', 'close, keep-alive', 'keep-alive, close', 'x-hop', 'TE', 'Upgrade', 'close,', ',,close',
  'keep-alive, x-hop, Keep-Alive', 'clos', 'Transfer-Encoding', 'Content-Length', 'Host',
];
const TE_VALUES = [
  'chunked', 'Chunked', 'CHUNKED', ' chunked', 'chunked ', 'gzip, chunked', 'chunked, gzip', 'identity', 'chunked\t', 'chunked;q=1',
  'xchunked', 'chunked, chunked', 'gzip,chunked', ', chunked', 'identity, chunked', '\tchunked',
];
const EXTRA_FIELDS = [
  'X-A: 1', 'x-a: 2', 'X-Case: MiXeD', 'X-S : v', 'X-S:v', 'X-S:   v   ', 'X-Tab: a\tb', 'X-Cr: a\rb', 'X-Lf: a\nb', 'X-Nul: a\x00b',
  'X-High: \xe9\xff', 'X-\xe9: v', ': empty-name', 'X(A): bad-name', 'Cookie: a=1', 'Cookie: b=2', 'Content-Type: text/plain',
  'Proxy-Connection: keep-alive', 'Keep-Alive: timeout=5', 'TE: trailers', 'Trailer: X-T', 'X-Hop: dropped?', 'X-Empty:',
  'X-Del: \x7f', 'X-Ctl: \x01', 'Expect: 100-continue', 'Via: 1.1 other', 'Forwarded: for=1.2.3.4', 'X-Forwarded-For: 9.9.9.9',
  'Upgrade-Insecure-Requests: 1', 'Content-Encoding: gzip', 'x-a:3', 'X-Long: ' + 'v'.repeat(2_000), 'X-Utf8: \xc3\xa9',
];
const EXPECTS = ['100-continue', '100-Continue', 'tea', '100-continue, tea', ''];
const UPGRADES = ['h2c', 'websocket', 'foo/1', 'HTTP/2.0', 'tls/1.2'];

/** A Content-Length value for `n` body bytes: mostly right, sometimes bent. */
function contentLength(r: Rng, n: number): string[] {
  if (r.chance(0.7)) return [`Content-Length: ${n}`];
  return r.pick([
    [`Content-Length: +${n}`], ['Content-Length: -1'], [`Content-Length:  ${n}  `], [`Content-Length: ${n}, ${n}`],
    [`Content-Length: ${n},${n + 1}`], [`Content-Length: 0x${n.toString(16)}`], ['Content-Length: 99999999999999999999'],
    [`Content-Length: ${n}`, `Content-Length: ${n}`], [`Content-Length: ${n}`, `Content-Length: ${n + 1}`], [`Content-Length: ${n}\t`],
    [`Content-Length: 0${n}`], ['Content-Length: '], [`content-length: ${n}`], [`Content-Length: ${n}.0`], ['Content-Length: 1e2'],
    [`Content-Length: ${n} ${n}`], ['Content-Length: 18446744073709551616'], ['Content-Length: 9007199254740993'],
  ]);
}

/** A chunked body of `body`: mostly right, sometimes with bent sizes, extensions or trailers. */
function chunked(r: Rng, body: string): string {
  const parts: string[] = [];
  let at = 0;
  while (at < body.length) {
    const n = Math.min(body.length - at, r.int(1, 12));
    let size = n.toString(16);
    if (r.chance(0.15)) size = r.pick([size.toUpperCase(), `00${size}`, `${size} `, `${size}\t`, ` ${size}`, `0x${size}`, `-${size}`, 'zz', `${size};a=b`, `${size};a="q;x"`, `${size} ;ext`, 'fffffffffffffffff1', `${(n + 2).toString(16)}`, `${Math.max(0, n - 1).toString(16)}`]);
    const eol = r.chance(0.05) ? '\n' : '\r\n';
    parts.push(`${size}${eol}${body.slice(at, at + n)}${r.chance(0.04) ? '' : '\r\n'}`);
    at += n;
  }
  let last = r.chance(0.9) ? '0' : r.pick(['00', '0;ext=1', '0 ', 'x', '']);
  last += '\r\n';
  if (r.chance(0.2)) last += r.pick(['X-T: 1\r\n', 'X-T: 1\r\nX-U: 2\r\n', 'Content-Length: 5\r\n', 'X-T : bad\r\n', 'X-T: a\rb\r\n', ' folded\r\n', 'Transfer-Encoding: chunked\r\n']);
  return `${parts.join('')}${last}${r.chance(0.95) ? '\r\n' : ''}`;
}

/** One request, GET-like or with a body, with a few things bent. */
function request(r: Rng, last: boolean): GenRequest {
  const method = r.chance(0.85) ? r.pick(['GET', 'GET', 'GET', 'POST', 'POST', 'HEAD', 'PUT', 'OPTIONS', 'DELETE']) : r.pick(ODD_METHODS);
  const target = r.chance(0.6) ? `/${r.pick(['a', 'b', 'c/d', 'e?f=g'])}` : r.pick(TARGETS);
  const version = r.chance(0.9) ? (r.chance(0.83) ? 'HTTP/1.1' : 'HTTP/1.0') : r.pick(ODD_VERSIONS);
  const sp = r.chance(0.97) ? ' ' : r.pick(['  ', '\t']);
  const lines: string[] = [];
  if (r.chance(0.85)) lines.push(HOST);
  else if (r.chance(0.8)) lines.push(r.pick(HOSTS));
  if (r.chance(0.35)) lines.push(`Connection: ${r.pick(CONNECTIONS)}`);
  if (r.chance(0.08)) lines.push(`Expect: ${r.pick(EXPECTS)}`);
  // Upgrade only on the last request: node:http stops reading after an
  // Upgrade request it did not upgrade (a stated difference).
  // Nor with a body: node:http stops reading at its head.
  const upgrade = last && r.chance(0.06);
  if (upgrade) lines.push(`Upgrade: ${r.pick(UPGRADES)}`, r.pick(['Connection: Upgrade', 'Connection: upgrade, HTTP2-Settings', 'Connection: keep-alive']));
  for (let i = r.chance(0.4) ? r.int(1, 4) : 0; i > 0; i--) lines.push(r.pick(EXTRA_FIELDS));
  if (r.chance(0.03)) for (let i = 0; i < r.int(50, 120); i++) lines.push(`X-M-${i}: ${i}`);
  // The body and its framing.
  const body = r.chance(0.5) ? 'hello world!xyzABCDEFGHIJ'.slice(0, r.int(0, 25)) : '';
  const framing = upgrade || (body === '' && r.chance(0.6)) ? 'none' : r.pick(['cl', 'cl', 'cl', 'chunked', 'chunked', 'both', 'te-odd', 'te-twice']);
  let payload = '';
  if (framing === 'cl') {
    lines.push(...contentLength(r, body.length));
    payload = body;
  } else if (framing === 'chunked') {
    lines.push('Transfer-Encoding: chunked');
    payload = chunked(r, body);
  } else if (framing === 'both') {
    const both = [...contentLength(r, body.length), 'Transfer-Encoding: chunked'];
    lines.push(...(r.chance(0.5) ? both : both.reverse()));
    payload = r.chance(0.5) ? chunked(r, body) : body;
  } else if (framing === 'te-odd') {
    lines.push(`Transfer-Encoding: ${r.pick(TE_VALUES)}`);
    payload = r.chance(0.7) ? chunked(r, body) : body;
  } else if (framing === 'te-twice') {
    lines.push(`Transfer-Encoding: ${r.pick(TE_VALUES)}`, `Transfer-Encoding: ${r.pick(TE_VALUES)}`);
    payload = chunked(r, body);
  }
  // A body shorter or longer than announced.
  // A body cut short only on the last request: on an earlier one the next
  // request's bytes would finish it, and where one message ends would be
  // the parser's guess, not the grammar's (fuzz.test.ts sends the messages
  // one at a time by the grammar's ends).
  let tail = '';
  if (payload !== '' && r.chance(0.08)) {
    if (last && r.chance(0.5)) payload = payload.slice(0, r.int(0, payload.length - 1));
    else tail = r.pick(['x', 'GET', '\r\n']);
  }
  if (r.chance(0.3)) shuffle(r, lines);
  // Line endings and folding: one line bent.
  let eols = lines.map(() => '\r\n');
  if (lines.length > 0 && r.chance(0.06)) eols[r.int(0, lines.length - 1)] = r.pick(['\n', '\r', '\r\r\n', ' \r\n']);
  if (lines.length > 0 && r.chance(0.04)) lines.splice(r.int(1, lines.length), 0, r.pick([' folded', '\tfolded', ' ']));
  if (lines.length !== eols.length) eols = [...eols, '\r\n'];
  let head = `${method}${sp}${target}${sp}${version}${r.chance(0.03) ? '\n' : '\r\n'}${lines.map((l, i) => `${l}${eols[i]}`).join('')}`;
  // Around the head-size limit: a field that brings the head to MAX_HEAD ± a few bytes.
  if (r.chance(0.06)) {
    const pad = MAX_HEAD + r.int(-40, 40) - head.length - 'X-Pad: \r\n'.length - 2;
    if (pad > 0) head += `X-Pad: ${'p'.repeat(pad)}\r\n`;
  }
  const end = r.chance(0.97) ? '\r\n' : r.pick(['\n', '']);
  return { bytes: `${head}${end}${payload}`, tail, head: method === 'HEAD' };
}

function shuffle<T>(r: Rng, items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

/** Case `index` of the corpus of `seed`: independent of the others, so one case replays alone. */
export function generate(seed: number, index: number): GenCase {
  const r = new Rng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const count = r.chance(0.6) ? 1 : r.int(2, 3);
  const requests = Array.from({ length: count }, (_, i) => request(r, i === count - 1));
  const bytes = requests.map((q) => q.bytes + q.tail).join('');
  const cuts = new Set<number>();
  for (let i = r.chance(0.4) ? r.int(1, 4) : 0; i > 0; i--) cuts.add(r.int(1, bytes.length - 1));
  const at = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
  const pieces = at.slice(1).map((end, i) => bytes.slice(at[i], end));
  // No FIN after an Upgrade request: node:http stops reading after an
  // Upgrade request it did not upgrade, so it never sees the FIN (the same
  // stated difference).
  const fin = r.chance(0.4) && !/\r\nUpgrade:/i.test(requests.at(-1)!.bytes);
  return { index, requests, pieces, fin };
}
