// Who the client is, per connection, when the peer address is not the answer:
// a PROXY protocol header (front.ts) names the client behind a load balancer,
// and a listener's trusted proxies (`trustedProxies`) say whose
// X-Forwarded-For to believe. decide.ts reads both when it builds the
// forwarding headers.
//
// X-Forwarded-For always gets the peer (or the PROXY-reported client)
// appended: upstreams that know their hops read it from the right. X-Real-IP
// is the peer, unless the peer is a trusted proxy: then it is the rightmost
// X-Forwarded-For entry that is not one (nginx's real_ip_recursive).
import { BlockList, isIP } from 'node:net';

// Keyed by the accepted socket; a TLSSocket (or HTTP/2's socket proxy) finds
// its raw socket as `_parent` (Node has set it on TLSSocket since v0.11).
const clients = new WeakMap<object, string>();

/** Records the client address a PROXY header gave for `socket`. */
export function noteClient(socket: object, address: string): void {
  clients.set(socket, address);
}

/** The peer of `socket` as the proxy should see it: the PROXY-reported client, else the socket's peer, IPv4-mapped addresses unmapped. */
export function peerAddress(socket: { remoteAddress?: string; _parent?: object } & object): string | undefined {
  const a = clients.get(socket) ?? (socket._parent === undefined ? undefined : clients.get(socket._parent)) ?? socket.remoteAddress;
  // A dual-stack listener ("::") reports IPv4 clients as "::ffff:a.b.c.d"; use the plain IPv4.
  return a?.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** A listener's trusted proxies as a BlockList; undefined for none. Throws on a bad CIDR (validated earlier). */
export function trustedList(cidrs: readonly string[] | undefined): BlockList | undefined {
  if (cidrs === undefined || cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split('/') as [string, string | undefined];
    const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, family);
    else list.addSubnet(addr, Number(bits), family);
  }
  return list;
}

function contains(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The client for X-Real-IP: `peer`, or, when `peer` is trusted, the rightmost
 * entry of the X-Forwarded-For chain (`xff`, as received) that is not.
 */
export function realClient(peer: string, xff: string | undefined, trusted: BlockList | undefined): string {
  if (trusted === undefined || xff === undefined || !contains(trusted, peer)) return peer;
  const hops = xff.split(',').map((h) => h.trim()).filter((h) => h !== '');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (isIP(hop) === 0) return peer; // a garbled chain: believe nothing in it
    if (!contains(trusted, hop)) return hop;
  }
  return hops[0] ?? peer;
}
