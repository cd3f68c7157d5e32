import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRegex, MAX_REGEX_LENGTH } from './regex.ts';

test('checkRegex: RE2 syntax, as the proxy runs it', async (t) => {
  const cases: Array<[pattern: string, want: true | RegExp]> = [
    ['/img/[a-z0-9]+\\.(png|jpe?g)', true],
    ['.*', true],
    ['', true],
    ['(?i)abc', true],
    ['[[:alpha:]]+', true],
    ['\\p{Greek}+', true],
    ['(?P<name>a)', true],
    ['(a+)+$', true], // catastrophic for a backtracking engine, linear for RE2
    ['(a', /missing closing \)/],
    ['[a-', /missing closing \]/],
    ['(?=a)', /invalid or unsupported Perl syntax/], // lookahead: Perl, not RE2
    ['(a)\\1', /invalid escape sequence/], // backreference
    ['a{1001}', /invalid repeat count/],
    ['(a{1000}){1000}', /invalid repeat count/],
    ['[a-z]{1,64}', /too large \(program size \d+, at most 100\)/], // the proxy's limit (api/regex.ts)
    ['x'.repeat(MAX_REGEX_LENGTH + 1), /longer than 1024 characters/],
  ];
  for (const [pattern, want] of cases) {
    await t.test(JSON.stringify(pattern.slice(0, 40)), () => {
      for (let i = 0; i < 2; i++) { // twice: a served pattern's second answer comes from api/regex.ts's cache
        const got = checkRegex(pattern, 'path');
        if (want === true) assert.deepEqual(got, { ok: true, value: pattern });
        else {
          assert.equal(got.ok, false);
          assert.equal(!got.ok && got.reason, 'InvalidRegex');
          assert.match(!got.ok ? got.message : '', want);
        }
      }
    });
  }
});

test('checkRegex: a message quotes the pattern, bounded', () => {
  const long = `(${'a'.repeat(500)}`;
  const got = checkRegex(long, 'header "x-a"');
  assert.ok(!got.ok && got.message.startsWith('header "x-a" regular expression "(aaa'));
  assert.ok(!got.ok && got.message.length < 200, !got.ok ? got.message : '');
});
