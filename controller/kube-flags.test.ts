import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError, parseFlags } from '../cli/flags.ts';
import { CONTROLLER } from '../cli/commands.ts';
import { kubeSettings, sourceMode } from './kube-flags.ts';

const inCluster = { KUBERNETES_SERVICE_HOST: '10.96.0.1' };
const noFile = () => undefined;
const parse = (...argv: string[]) => parseFlags(CONTROLLER, argv);

test('the source: --manifests, else a cluster; Kubernetes-only flags with --manifests name the flag', () => {
  assert.equal(sourceMode(parse('--manifests', 'd')), 'manifests');
  assert.equal(sourceMode(parse()), 'kubernetes');
  assert.throws(() => sourceMode(parse('--manifests', 'd', '--watch-namespace', 'x')), /--watch-namespace goes with the Kubernetes source/);
  assert.throws(() => sourceMode(parse('--manifests', 'd', '--leader-elect', 'false')), /--leader-elect goes with/);
});

const cases: Array<{ name: string; argv: string[]; env?: NodeJS.ProcessEnv; want?: unknown; error?: RegExp }> = [
  { name: 'no cluster anywhere', argv: [], env: {}, error: /--manifests DIR, --kubeconfig FILE, or run in a cluster/ },
  { name: 'kubeconfig, defaults', argv: ['--kubeconfig', 'k'], env: {}, want: { kubeconfig: 'k', leaderElection: { namespace: 'default', name: 'turnout-controller' } } },
  { name: 'in-cluster, POD_NAMESPACE', argv: [], env: { ...inCluster, POD_NAMESPACE: 'edge' }, want: { leaderElection: { namespace: 'edge', name: 'turnout-controller' } } },
  { name: 'no election', argv: ['--leader-elect', 'false'], env: inCluster, want: {} },
  { name: 'election flags without election', argv: ['--leader-elect', 'false', '--leader-election-id', 'x'], env: inCluster, error: /need --leader-elect true/ },
  { name: 'bad lease name', argv: ['--leader-election-id', 'Not_A_Name'], env: inCluster, error: /--leader-election-id must be a DNS subdomain/ },
  { name: 'bad lease namespace', argv: ['--leader-election-namespace', 'a/b'], env: inCluster, error: /--leader-election-namespace must be a namespace/ },
  { name: 'watch namespace', argv: ['--watch-namespace', 'shop', '--leader-elect', 'false'], env: inCluster, want: { watchNamespace: 'shop' } },
  { name: 'bad watch namespace', argv: ['--watch-namespace', 'Shop'], env: inCluster, error: /--watch-namespace must be a namespace name/ },
  { name: 'publish service', argv: ['--publish-service', 'turnout/proxy', '--leader-elect', 'false'], env: inCluster, want: { publish: { service: { namespace: 'turnout', name: 'proxy' } } } },
  { name: 'bad publish service', argv: ['--publish-service', 'proxy'], env: inCluster, error: /--publish-service must be NAMESPACE\/NAME/ },
  { name: 'publish addresses', argv: ['--publish-address', '203.0.113.7, lb.example.com', '--leader-elect', 'false'], env: inCluster, want: { publish: { addresses: [{ ip: '203.0.113.7' }, { hostname: 'lb.example.com' }] } } },
  { name: 'bad publish address', argv: ['--publish-address', 'not an address'], env: inCluster, error: /--publish-address must be IP addresses or DNS names/ },
  { name: 'both publish flags', argv: ['--publish-address', '1.2.3.4', '--publish-service', 'a/b'], env: inCluster, error: /not both/ },
  { name: 'bad bool', argv: ['--leader-elect', 'yes'], env: inCluster, error: /--leader-elect must be true or false/ },
];

for (const tc of cases) {
  test(`kube flags: ${tc.name}`, () => {
    const run = () => kubeSettings(parse(...tc.argv), tc.env ?? {}, noFile);
    if (tc.error) {
      assert.throws(run, (e: unknown) => e instanceof UsageError && tc.error!.test(e.message));
      return;
    }
    const got = run() as any;
    if (got.leaderElection) {
      assert.match(got.leaderElection.identity, /_[0-9a-f]{8}$/);
      delete got.leaderElection.identity;
    }
    assert.deepEqual(got, tc.want);
  });
}
