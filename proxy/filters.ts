// What a matched Route does to a request besides choosing where it goes:
// header filters, path and host rewrites, redirects (Gateway API semantics).
// Pure functions over the shapes forward.ts already has (flat header lists
// [name, value, ...], the normalised path, the query with its "?"), so every
// rule is a table test and forward.ts stays a relay.
//
// Decisions a client can notice:
// - Header filters apply in the order remove, set, add. Names compare
//   case-insensitively; `set` replaces every value of the name with one line
//   (the last `set` of a name wins), `add` appends one more line. They run on
//   the final list: after the proxy's own forwarding headers upstream, after
//   hop-by-hop stripping downstream, so a client cannot bypass a `remove`
//   (any spelling of the name is removed) and a filter's `set` survives a
//   client's `Connection: <name>`. Validation (api/validate-route.ts
//   RESERVED_HEADERS) keeps filters off hop-by-hop and proxy-managed names
//   (Host, Content-Length, X-Forwarded-*, X-Real-IP); that is not re-checked here.
// - Path modifiers: ReplaceFullPath replaces the whole path; ReplacePrefixMatch
//   replaces only the part the route's Prefix matched, element-wise, a trailing
//   slash of the replacement ignored (/foo → /bar: /foo/x → /bar/x, /foo →
//   /bar, /foo/ → /bar/; → "/": /foo/x → /x, /foo → /). For an Exact (or any
//   non-Prefix) match the matched part is the whole path. The query is kept.
// - Redirect Location: scheme, else the listener's; hostname, else the Host
//   header without its port (the listener's address for a request without
//   Host); port as the Gateway API says: the given one; else with a scheme
//   given, that scheme's well-known port; else the listener's port. A port
//   that is the scheme's well-known one (http 80, https 443) is left out.
//   "The listener's port" is the port the proxy accepted the connection on:
//   behind a Service that maps 80 → 8080, give the redirect a port.
import type { HeaderFilter, PathModifier, Redirect, Route, RouteMatch } from '../api/snapshot.ts';
import { prefixKey } from './routing/paths.ts';

/**
 * A header list after `filter` (remove, set, add). Returns `headers` itself
 * when there is nothing to do, so an unfiltered route costs no copy.
 */
export function applyHeaderFilter(headers: string[], filter: HeaderFilter | undefined): string[] {
  if (filter === undefined) return headers;
  const { remove, set, add } = filter;
  if (!remove?.length && !set?.length && !add?.length) return headers;
  // `set` is remove-then-add of one value: drop every existing line of the name.
  const drop = new Set<string>(remove);
  const setValues = new Map<string, string>();
  for (const h of set ?? []) {
    drop.add(h.name);
    setValues.set(h.name, h.value);
  }
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (!drop.has(name.toLowerCase())) out.push(name, headers[i + 1] as string);
  }
  for (const [name, value] of setValues) out.push(name, value);
  for (const h of add ?? []) out.push(h.name, h.value);
  return out;
}

/**
 * The header list with Host replaced by `hostname` (a URL rewrite): the value
 * of the first Host line, or a new line when the client sent none (HTTP/1.0).
 * X-Forwarded-Host, set earlier from the client's Host, is left as it is.
 */
export function withHost(headers: string[], hostname: string): string[] {
  const out = headers.slice();
  for (let i = 0; i < out.length; i += 2) {
    if ((out[i] as string).toLowerCase() === 'host') {
      out[i + 1] = hostname;
      return out;
    }
  }
  out.push('host', hostname);
  return out;
}

/** The path sent upstream for a normalised request path: the route's rewrite applied, if any. */
export function upstreamPath(route: Route, path: string): string {
  const modifier = route.rewrite?.path;
  return modifier === undefined ? path : modifyPath(route.match, path, modifier);
}

/**
 * The headers sent upstream, from the list forward.ts built (forwarding
 * headers included): the rewrite's Host, then the route's request filter.
 */
export function upstreamRequestHeaders(route: Route, headers: string[]): string[] {
  const hostname = route.rewrite?.hostname;
  return applyHeaderFilter(hostname === undefined ? headers : withHost(headers, hostname), route.requestHeaders);
}

/**
 * The path after `modifier`, given the route match that took the request and
 * the normalised request path (see the top of this file for the rules).
 */
export function modifyPath(match: RouteMatch, path: string, modifier: PathModifier): string {
  if (modifier.type === 'ReplaceFullPath') return modifier.value;
  const replacement = modifier.value.endsWith('/') ? modifier.value.slice(0, -1) : modifier.value;
  const rest = matchedRest(match, path);
  const out = replacement + rest;
  return out === '' ? '/' : out;
}

/**
 * What follows the matched prefix: "" or "/..." (a trailing slash of the
 * request is kept). The root prefix matches no element, so all of a path but
 * "/" itself is the rest. A path the prefix does not cover (not reachable
 * through the router) counts as wholly matched.
 */
function matchedRest(match: RouteMatch, path: string): string {
  if (match.type !== 'Prefix') return '';
  const prefix = prefixKey(match.path);
  if (prefix === '/') return path === '/' ? '' : path;
  if (path === prefix) return '';
  return path.startsWith(prefix) && path.charCodeAt(prefix.length) === 0x2f /* / */ ? path.slice(prefix.length) : '';
}

/** What redirectLocation needs to know about the request beyond the route. */
export interface RedirectRequest {
  /** The listener's protocol. */
  readonly proto: 'http' | 'https';
  /** The Host header as sent (already checked to be host[:port]), if any. */
  readonly host: string | undefined;
  /** The address and port the connection was accepted on. */
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  /** The normalised path and the query with its "?" (or ""). */
  readonly path: string;
  readonly query: string;
}

const WELL_KNOWN_PORT = { http: 80, https: 443 } as const;

/** The Location of a redirect (see the top of this file for the rules). */
export function redirectLocation(redirect: Redirect, match: RouteMatch, req: RedirectRequest): string {
  const scheme = redirect.scheme ?? req.proto;
  const host = redirect.hostname ?? hostWithoutPort(req.host) ?? bracketed(req.localAddress ?? 'localhost');
  const port = redirect.port ?? (redirect.scheme !== undefined ? WELL_KNOWN_PORT[scheme] : req.localPort);
  const authority = port === undefined || port === WELL_KNOWN_PORT[scheme] ? host : `${host}:${port}`;
  const path = redirect.path === undefined ? req.path : modifyPath(match, req.path, redirect.path);
  return `${scheme}://${authority}${path}${req.query}`;
}

/** "foo.com:8080" → "foo.com", "[::1]:8443" → "[::1]"; undefined stays undefined. */
function hostWithoutPort(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  const colon = host.lastIndexOf(':');
  return colon === -1 || host.endsWith(']') ? host : host.slice(0, colon);
}

function bracketed(address: string): string {
  // A dual-stack listener reports IPv4 as "::ffff:a.b.c.d"; a URL wants the plain IPv4.
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  return address.includes(':') ? `[${address}]` : address;
}
