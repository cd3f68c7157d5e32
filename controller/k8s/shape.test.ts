import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shapeProblem } from './shape.ts';

const ing = (spec: unknown, annotations?: unknown) => ({ kind: 'Ingress', metadata: { name: 'a', annotations }, spec });
const path = (p: Record<string, unknown>) => ing({ rules: [{ host: 'a.com', http: { paths: [p] } }] });
const okBackend = { service: { name: 's', port: { number: 80 } } };
const route = (spec: unknown) => ({ apiVersion: 'turnout.dev/v1alpha1', kind: 'Route', metadata: { name: 'r' }, spec });

const cases: Array<[name: string, kind: string, obj: unknown, want: RegExp | undefined]> = [
  ['a complete Ingress fits', 'Ingress', path({ path: '/', pathType: 'Prefix', backend: okBackend }), undefined],
  ['null fields count as absent', 'Ingress', ing({ rules: null, tls: null, defaultBackend: okBackend }), undefined],
  ['an empty rule', 'Ingress', ing({ rules: [null] }), /^spec\.rules\[0\]: must not be empty$/],
  ['paths not a list', 'Ingress', ing({ rules: [{ http: { paths: 5 } }] }), /^spec\.rules\[0\]\.http\.paths: must be a list$/],
  ['a path without pathType', 'Ingress', path({ path: '/', backend: okBackend }), /paths\[0\]\.pathType: is required/],
  ['a numeric annotation', 'Ingress', ing({}, { 'turnout.dev/response-timeout': 5 }), /metadata\.annotations\.turnout\.dev\/response-timeout: must be a string/],
  ['a port number as a string', 'Ingress', path({ path: '/', pathType: 'Prefix', backend: { service: { name: 's', port: { number: '80' } } } }), /port\.number: must be an integer/],
  ['tls hosts not a list', 'Ingress', ing({ tls: [{ hosts: 'a.com' }] }), /^spec\.tls\[0\]\.hosts: must be a list$/],
  ['a Service with a named targetPort', 'Service', { metadata: { name: 's' }, spec: { ports: [{ port: 80, targetPort: 'http' }] } }, undefined],
  ['Service ports as a string', 'Service', { metadata: { name: 's' }, spec: { ports: 'x' } }, /^spec\.ports: must be a list$/],
  ['a Service port without a number', 'Service', { metadata: { name: 's' }, spec: { ports: [{ name: 'http' }] } }, /spec\.ports\[0\]\.port: is required/],
  ['an EndpointSlice fits', 'EndpointSlice', { metadata: { name: 'e' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true } }], ports: [{ port: 80 }] }, undefined],
  ['ready as a string', 'EndpointSlice', { metadata: { name: 'e' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: 'yes' } }] }, /conditions\.ready: must be a boolean/],
  ['an EndpointSlice without addressType', 'EndpointSlice', { metadata: { name: 'e' } }, /^addressType: is required$/],
  ['Secret data values must be strings', 'Secret', { metadata: { name: 's' }, data: { 'tls.crt': 1 } }, /data\.tls\.crt: must be a string/],
  ['kinds Turnout does not read are not checked', 'ConfigMap', { data: 5 }, undefined],
  ['a complete Route fits', 'Route', route({
    ingressClassName: 'turnout', hostnames: ['a.com'], tls: { secretName: 's' },
    rules: [{
      matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ name: 'x', type: 'Exact', value: '1' }], queryParams: [{ name: 'q', value: '2' }], method: 'GET' }],
      backends: [{ name: 's', port: 80, weight: 1 }],
      filters: {
        requestRedirect: { scheme: 'https', hostname: 'b.com', port: 443, path: { type: 'ReplaceFullPath', value: '/' }, statusCode: 301 },
        urlRewrite: { hostname: 'c.com', path: { type: 'ReplacePrefixMatch', value: '/' } },
        requestHeaders: { set: [{ name: 'a', value: 'b' }], add: [{ name: 'c', value: 'd' }], remove: ['e'] },
        responseHeaders: { remove: ['f'] },
        requestMirror: { backend: { name: 'm', port: 80 }, percent: 10 },
      },
      timeouts: { request: '10s', backendRequest: '2s', idle: '5m' },
      retries: { attempts: 2, on: ['connect-failure', 503], perTryTimeout: '1s', backoff: '25ms' },
    }],
  }), undefined],
  ['a tcp Route fits', 'Route', route({ tcp: { port: 5432, backends: [{ name: 'pg', port: 5432 }] } }), undefined],
  ['a Route port as a string', 'Route', route({ rules: [{ backends: [{ name: 's', port: '80' }] }] }), /^spec\.rules\[0\]\.backends\[0\]\.port: must be an integer$/],
  ['a Route backend without a port', 'Route', route({ rules: [{ backends: [{ name: 's' }] }] }), /^spec\.rules\[0\]\.backends\[0\]\.port: is required$/],
  ['Route hostnames not a list', 'Route', route({ hostnames: 'a.com' }), /^spec\.hostnames: must be a list$/],
  ['a header match without a value', 'Route', route({ rules: [{ matches: [{ headers: [{ name: 'x' }] }] }] }), /matches\[0\]\.headers\[0\]\.value: is required/],
  ['a numeric header filter value', 'Route', route({ rules: [{ filters: { responseHeaders: { set: [{ name: 'x', value: 1 }] } } }] }), /responseHeaders\.set\[0\]\.value: must be a string/],
  ['retries.on of another type', 'Route', route({ rules: [{ retries: { on: [true] } }] }), /retries\.on\[0\]: must be an integer or a string/],
  ['a mirror without a backend', 'Route', route({ rules: [{ filters: { requestMirror: { percent: 5 } } }] }), /requestMirror\.backend: is required/],
  ['a tcp backend without a name', 'Route', route({ tcp: { backends: [{ port: 1 }] } }), /^spec\.tcp\.backends\[0\]\.name: is required$/],
];

for (const [name, kind, obj, want] of cases) {
  test(`shape: ${name}`, () => {
    const got = shapeProblem(kind, obj);
    if (want === undefined) assert.equal(got, undefined);
    else assert.match(got ?? '(fits)', want);
  });
}
