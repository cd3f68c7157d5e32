import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags, usage, UsageError } from './flags.ts';
import { COMMANDS, LOCAL } from './commands.ts';

const cases: Array<{ name: string; argv: string[]; want?: Record<string, unknown>; error?: RegExp }> = [
  { name: 'defaults', argv: ['--manifests', 'x'], want: { manifests: 'x', 'http-port': 8080, 'https-port': 8443, 'admin-port': 9901, bind: '127.0.0.1', 'upstream-timeout': 15000 } },
  { name: 'explicit values', argv: ['--manifests=d', '--http-port', '1', '--bind', '::1', '--upstream-timeout', '1m30s'], want: { 'http-port': 1, bind: '::1', 'upstream-timeout': 90000 } },
  { name: 'port 0', argv: ['--manifests', 'x', '--http-port', '0'], error: /--http-port must be a port number 1\.\.65535/ },
  { name: 'unknown flag', argv: ['--manifests', 'x', '--bogus'], error: /--bogus/ },
  { name: 'missing required flag', argv: [], error: /--manifests is required/ },
  { name: 'bad port', argv: ['--manifests', 'x', '--http-port', '70000'], error: /--http-port must be a port/ },
  { name: 'bad log level', argv: ['--manifests', 'x', '--log-level', 'loud'], error: /--log-level must be debug, info, warn or error/ },
  { name: 'non-numeric port', argv: ['--manifests', 'x', '--admin-port', '8o'], error: /--admin-port/ },
  { name: 'bad address', argv: ['--manifests', 'x', '--bind', 'localhost'], error: /--bind must be an IP address/ },
  { name: 'bad duration', argv: ['--manifests', 'x', '--upstream-timeout', '10'], error: /--upstream-timeout must be a duration/ },
  { name: 'a boolean defaulting to true', argv: ['--manifests', 'x'], want: { 'reuse-port': true, 'drain-timeout': 300000 } },
  { name: 'a boolean turned off with --no-', argv: ['--manifests', 'x', '--no-reuse-port', '--drain-timeout', '2s'], want: { 'reuse-port': false, 'drain-timeout': 2000 } },
  { name: 'a boolean given a value', argv: ['--manifests', 'x', '--reuse-port=false'], error: /reuse-port/ },
  { name: 'proxy protocol and trusted proxies', argv: ['--manifests', 'x', '--proxy-protocol', '--trusted-proxies', '10.0.0.0/8,fd00::/8'], want: { 'proxy-protocol': true, 'trusted-proxies': '10.0.0.0/8,fd00::/8' } },
  { name: 'positional argument', argv: ['--manifests', 'x', 'extra'], error: /extra/ },
];

for (const tc of cases) {
  test(`flags: ${tc.name}`, () => {
    if (tc.error) {
      assert.throws(() => parseFlags(LOCAL, tc.argv), (err: unknown) => err instanceof UsageError && tc.error!.test(err.message) && err.exitCode === 2);
      return;
    }
    const got = parseFlags(LOCAL, tc.argv);
    for (const [k, v] of Object.entries(tc.want!)) assert.equal(got[k], v, k);
  });
}

test('--help needs no required flag, and every command documents every flag', () => {
  for (const spec of COMMANDS) {
    assert.equal(parseFlags(spec, ['--help']).help, true);
    const text = usage(spec);
    for (const f of spec.flags) {
      const shown = f.kind === 'boolean' && f.default === 'true' ? `--[no-]${f.name}` : `--${f.name}`;
      assert.ok(text.includes(shown), `${spec.name} ${shown}`);
    }
  }
});
