import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import {
  haproxyCfg, haproxyMap, hostList, nginxProxyConf, randomHostLua, TLS_HOST, turnoutBase, turnoutCatchAll,
  turnoutHostIngresses, turnoutTls,
} from './configs.ts';

const tls = { port: 8443, certFile: '/c/cert.pem', keyFile: '/c/key.pem', pemFile: '/c/both.pem' };

test('nginx: one proxy server by default, a change location when asked', () => {
  const conf = nginxProxyConf('/d', 2, 8080, 9000, 0);
  assert.match(conf, /worker_processes 2;/);
  assert.match(conf, /upstream backend \{ server 127\.0\.0\.1:9000; keepalive 64;/);
  assert.equal(conf.match(/server \{/g)?.length, 1);
  assert.doesNotMatch(conf, /bench-change/);
  assert.match(nginxProxyConf('/d', 1, 8080, 9000, 7), /location = \/bench-change-7 \{ return 204; \}/);
});

test('nginx: TLS adds an ssl http2 server with the certificate', () => {
  const conf = nginxProxyConf('/d', 1, 8080, 9000, 0, { tls });
  assert.match(conf, /listen 127\.0\.0\.1:8443 ssl http2;/);
  assert.match(conf, /ssl_certificate \/c\/cert\.pem;/);
  assert.match(conf, /ssl_certificate_key \/c\/key\.pem;/);
});

test('nginx: hosts give a 404 default server and one server block per host, with a big names hash', () => {
  const hosts = hostList(3);
  const conf = nginxProxyConf('/d', 1, 8080, 9000, 0, { hosts });
  assert.match(conf, /listen 127\.0\.0\.1:8080 default_server; location \/ \{ return 404; \}/);
  for (const h of hosts) assert.equal(conf.split(`server_name ${h};`).length, 2, h);
  assert.equal(conf.match(/server \{/g)?.length, 4);
  assert.match(conf, /server_names_hash_max_size 131072;/);
  assert.match(conf, /server_names_hash_bucket_size 128;/);
});

test('HAProxy: default backend without hosts; map_str lookup and no default with hosts; TLS with ALPN', () => {
  const plain = haproxyCfg(1, 8080, 9000, 0);
  assert.match(plain, /default_backend be/);
  assert.match(plain, /server s1 127\.0\.0\.1:9000/);
  const routed = haproxyCfg(2, 8080, 9000, 0, { hosts: ['a'], mapFile: '/d/hosts.map', tls });
  assert.match(routed, /nbthread 2/);
  assert.match(routed, /use_backend %\[req\.hdr\(host\),lower,map_str\(\/d\/hosts\.map\)\]/);
  assert.doesNotMatch(routed, /default_backend/);
  assert.match(routed, /bind 127\.0\.0\.1:8443 ssl crt \/c\/both\.pem alpn h2,http\/1\.1/);
  assert.match(haproxyCfg(1, 8080, 9000, 3), /http-request return status 204 if \{ path \/bench-change-3 \}/);
  assert.equal(haproxyMap(['x.test', 'y.test']), 'x.test be\ny.test be\n');
});

test('host list: distinct names; wrk script reads the list and sets a random Host', () => {
  const hosts = hostList(1000);
  assert.equal(new Set(hosts).size, 1000);
  const lua = randomHostLua('/d/hosts.txt');
  assert.match(lua, /io\.lines\("\/d\/hosts\.txt"\)/);
  assert.match(lua, /wrk\.format\(nil, nil, \{ Host = hosts\[math\.random\(n\)\] \}\)/);
  assert.match(lua, /^request = function\(\)$/m);
});

test('Turnout: one Ingress per host, parseable, names and hosts unique', () => {
  const hosts = hostList(5);
  const docs = parseAllDocuments(turnoutHostIngresses(hosts, 10)).map((d) => d.toJS());
  assert.equal(docs.length, 5);
  assert.deepEqual(docs.map((d) => d.metadata.name), ['host-10', 'host-11', 'host-12', 'host-13', 'host-14']);
  assert.deepEqual(docs.map((d) => d.spec.rules[0].host), hosts);
  assert.ok(docs.every((d) => d.kind === 'Ingress' && d.spec.rules[0].http.paths[0].backend.service.name === 'backend'));
});

test('Turnout: base manifests, catch-all and the TLS Secret + Ingress parse', () => {
  const base = parseAllDocuments(`${turnoutBase(9000)}---\n${turnoutCatchAll()}`).map((d) => d.toJS());
  assert.deepEqual(base.map((d) => d.kind), ['IngressClass', 'Service', 'Service', 'EndpointSlice', 'Ingress']);
  assert.equal(base[3].ports[0].port, 9000);
  const [secret, ingress] = parseAllDocuments(turnoutTls('CERT\n', 'KEY\n')).map((d) => d.toJS());
  assert.equal(secret.type, 'kubernetes.io/tls');
  assert.equal(Buffer.from(secret.data['tls.crt'], 'base64').toString(), 'CERT\n');
  assert.equal(Buffer.from(secret.data['tls.key'], 'base64').toString(), 'KEY\n');
  assert.deepEqual(ingress.spec.tls, [{ hosts: [TLS_HOST], secretName: 'bench-tls' }]);
  assert.equal(ingress.spec.rules[0].host, TLS_HOST);
});
