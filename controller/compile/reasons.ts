// The catalog of condition reasons the compiler sets. Reasons are API: users
// grep for them, alerts match on them, and `kubectl wait` scripts depend on
// them. Add new codes freely; never rename or reuse one. Each line says what the
// code means to the person reading the Ingress's (or Route's) status.

/** Every reason code with its one-line meaning (the meaning is documentation only). */
export const REASONS = {
  // Accepted
  Accepted: 'the Ingress or Route is served: every part of it that is valid is in the routing table',
  NothingToServe: 'the Ingress has no rules with paths, no defaultBackend and no TLS hosts (a Route: no rules and no tcp)',
  CompileFailed: 'compiling the Ingress or Route threw (a Turnout bug: please report it); what it added before the failure may be served',

  // Invalid parts (PartiallyInvalid=True, or Accepted=False when nothing else is left)
  InvalidHost: 'a rule or TLS host (a Route hostname) is not a DNS-1123 subdomain nor a "*." wildcard; that rule or host is skipped',
  InvalidPathType: 'a path has no pathType or an unknown one; that path (a Route: that match) is skipped',
  InvalidPath: 'a path is empty, relative, contains characters invalid in a URL path, or has "//", "." or ".." segments; that path (a Route: that match) is skipped',
  InvalidTimeout: 'the turnout.dev/response-timeout annotation (a Route: timeouts.backendRequest) is not a positive Go duration under 24 days, the default timeout is used; or a Route timeouts.request is not one or is shorter than backendRequest, it is ignored; or a Route timeouts.idle is not one, it is ignored and the 5m default applies',
  InvalidRetry: 'a Route retries has attempts outside 0..10, an unknown condition in `on` (connect-failure, reset, 502, 503, 504), or a perTryTimeout or backoff that is not a positive Go duration; the rule retries only connect failures',
  TLSHostsMissing: 'a spec.tls entry lists no hosts (a Route with tls lists no hostnames); Turnout cannot tell which hosts it is for, so it is skipped',
  TLSSecretNameMissing: 'a spec.tls entry names no Secret; its hosts are served with the default certificate',
  InvalidTLS: 'a Route spec.tls.mode is neither Terminate nor Passthrough (spec.tls is skipped), or a Passthrough Route sets secretName, tcp.port or lacks spec.tcp (nothing of it is served)',
  InvalidTCP: 'a Route spec.tcp.port is not an integer in 1..65535, or spec.rules and spec.tcp are both set; nothing of the Route is served',
  InvalidMatch: 'a Route match has an unknown header or query match type, an invalid header name, an empty query name, or a method that is not an HTTP token; that match is skipped',
  InvalidRegex: 'a Route RegularExpression (path, header or query) is not valid RE2 syntax or is too long; that match is skipped',
  InvalidFilter: 'a Route rule has a malformed filter or one not allowed where it is (requestRedirect with backends or with urlRewrite, ReplacePrefixMatch with a match that is not PathPrefix, a bad status code, hostname, port or path); the requests of that rule answer 500',
  InvalidHeaderFilter: 'a Route header filter entry names a hop-by-hop or proxy-managed header, or is not a valid header name or value; that entry is dropped',
  InvalidMirror: 'a Route requestMirror has a percent that is not an integer in 0..100, names no backend, or sits on a rule with a requestRedirect (nothing is forwarded); nothing is mirrored',
  InvalidWeight: 'a Route backend weight is negative or above 1000000; that backend gets weight 0',
  NoBackends: 'a Route rule has neither backends nor a requestRedirect; its requests answer 500',

  // ResolvedRefs=False
  ResolvedRefs: 'every Service and Secret the Ingress or Route references was found and usable',
  InvalidBackend: 'a backend names no Service, or neither a port number nor a port name',
  UnsupportedBackend: 'a backend is a `resource` backend, which Turnout does not support; its route answers 503',
  RefNotPermitted: 'a Route backend names a Service in another namespace, which is not permitted; its share of requests answers 500',
  ServiceNotFound: 'a backend Service does not exist in the Ingress namespace; its route answers 503 (a Route backend: its share answers 500)',
  UnsupportedServiceType: 'a backend Service is of type ExternalName and the controller runs without --enable-external-name; its route answers 503 (a Route backend: its share answers 500)',
  InvalidExternalName: 'an ExternalName Service names something that is not a DNS name; its route answers 503 (a Route backend: its share answers 500)',
  PortNotFound: 'a backend port (number or name) is not a port of the Service; its route answers 503 (a Route backend: its share answers 500)',
  UnsupportedAddressType: 'an EndpointSlice of a backend has addressType FQDN, which is skipped',
  SecretNotFound: 'a TLS Secret does not exist in the Ingress (or Route) namespace; its hosts get the default certificate',
  InvalidSecretType: 'a TLS Secret is neither of type kubernetes.io/tls nor has tls.crt and tls.key; its hosts get the default certificate',
  InvalidSecretData: 'a TLS Secret has an empty or non-base64 tls.crt or tls.key; its hosts get the default certificate',
  InvalidCertificate: 'a TLS Secret tls.crt is not a PEM certificate chain; its hosts get the default certificate',
  InvalidPrivateKey: 'a TLS Secret tls.key is not a PEM private key; its hosts get the default certificate',
  KeyMismatch: 'a TLS Secret tls.key does not belong to the certificate in tls.crt; its hosts get the default certificate',
  UnusableCertificate: 'the TLS library refuses a TLS Secret (e.g. a key too small or a weak signature); its hosts get the default certificate',

  // Conflicted=True
  RouteConflict: 'an older Ingress or Route (or an earlier rule of this object) already claims this host and match (path, path type, and for a Route its header, query and method conditions)',
  DefaultBackendConflict: 'an older Ingress already provides the defaultBackend; this one is not used',
  TLSConflict: 'an older Ingress or Route (or an earlier entry of this object) already serves this TLS host with another Secret',
} as const;

/** A stable reason code: the compiler cannot set a reason that is not in the catalog. */
export type Reason = keyof typeof REASONS;
