// Which HTTP/1.1 engine serves, in a module of its own: the CLI's flag
// defaults read it without loading the proxy.

/** Who speaks HTTP/1.1 on the http listeners: node:http, or Turnout's net-level engine (server.ts). */
export type Http1Engine = 'node' | 'net';

/**
 * The engine when none is named (flag, chart, DataPlane): the net engine, 1.5×
 * the requests of node:http per CPU (docs/data-plane.md), held to node:http by
 * differential.test.ts and the proxy suite run on both (package.json).
 */
export const DEFAULT_HTTP1_ENGINE: Http1Engine = 'net';
