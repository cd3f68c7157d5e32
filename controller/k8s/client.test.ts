import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KubeApiError, kubeClient, MERGE_PATCH } from './client.ts';

test('kubeClient: bearer token from the kubeconfig, JSON bodies, merge patches, API errors with code and reason', async () => {
  const seen: Array<{ method: string; url: string; auth?: string; type?: string; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, type: req.headers['content-type'], body });
      if (req.url!.startsWith('/conflict')) {
        res.writeHead(409, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', reason: 'Conflict', message: 'the object has been modified', code: 409 }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ metadata: { resourceVersion: '7' }, items: [] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dir = await mkdtemp(join(tmpdir(), 'turnout-kubeclient-'));
  try {
    const file = join(dir, 'kubeconfig');
    await writeFile(file, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:${(server.address() as AddressInfo).port}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: secret-token-0123}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`);
    const client = await kubeClient(file);
    const list = await client.request<{ metadata: { resourceVersion: string } }>('GET', '/api/v1/services', { query: { fieldSelector: 'type=kubernetes.io/tls' } });
    assert.equal(list.metadata.resourceVersion, '7');
    await client.request('PATCH', '/apis/x/status', { body: { status: { a: 1 } }, contentType: MERGE_PATCH });
    await assert.rejects(client.request('PUT', '/conflict', { body: {} }), (e: unknown) => e instanceof KubeApiError && e.code === 409 && e.reason === 'Conflict' && /modified/.test(e.message));
    assert.deepEqual(seen.map((s) => [s.method, s.url, s.auth, s.type ?? null, s.body]), [
      ['GET', '/api/v1/services?fieldSelector=type%3Dkubernetes.io%2Ftls', 'Bearer secret-token-0123', null, ''],
      ['PATCH', '/apis/x/status', 'Bearer secret-token-0123', MERGE_PATCH, '{"status":{"a":1}}'],
      ['PUT', '/conflict', 'Bearer secret-token-0123', 'application/json', '{}'],
    ]);
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
