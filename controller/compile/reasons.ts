// The catalog of condition reasons the compiler sets. Reasons are API: users
// grep for them, alerts match on them, and `kubectl wait` scripts depend on
// them. Add new codes freely; never rename or reuse one. Each line says what the
// code means to the person reading the Ingress's status.

/** Every reason code with its one-line meaning (the meaning is documentation only). */
export const REASONS = {
  // Accepted
  Accepted: 'the Ingress is served: every part of it that is valid is in the routing table',
  NothingToServe: 'the Ingress has no rules with paths, no defaultBackend and no TLS hosts',
  CompileFailed: 'compiling the Ingress threw (a Turnout bug: please report it); what it added before the failure may be served',

  // Invalid parts (PartiallyInvalid=True, or Accepted=False when nothing else is left)
  InvalidHost: 'a rule or TLS host is not a DNS-1123 subdomain nor a "*." wildcard; that rule or host is skipped',
  InvalidPathType: 'a path has no pathType or an unknown one; that path is skipped',
  InvalidPath: 'a path is empty, relative, contains characters invalid in a URL path, or has "//", "." or ".." segments; that path is skipped',
  InvalidTimeout: 'the turnout.dev/response-timeout annotation is not a positive Go duration under 24 days; the default timeout is used',
  TLSHostsMissing: 'a spec.tls entry lists no hosts; Turnout cannot tell which hosts it is for, so it is skipped',
  TLSSecretNameMissing: 'a spec.tls entry names no Secret; its hosts are served with the default certificate',

  // ResolvedRefs=False
  ResolvedRefs: 'every Service and Secret the Ingress references was found and usable',
  InvalidBackend: 'a backend names no Service, or neither a port number nor a port name',
  UnsupportedBackend: 'a backend is a `resource` backend, which Turnout does not support; its route answers 503',
  ServiceNotFound: 'a backend Service does not exist in the Ingress namespace; its route answers 503',
  UnsupportedServiceType: 'a backend Service is of type ExternalName, not supported yet; its route answers 503',
  PortNotFound: 'a backend port (number or name) is not a port of the Service; its route answers 503',
  UnsupportedAddressType: 'an EndpointSlice of a backend has addressType FQDN, which is skipped',
  SecretNotFound: 'a TLS Secret does not exist in the Ingress namespace; its hosts get the default certificate',
  InvalidSecretType: 'a TLS Secret is neither of type kubernetes.io/tls nor has tls.crt and tls.key; its hosts get the default certificate',
  InvalidSecretData: 'a TLS Secret has an empty or non-base64 tls.crt or tls.key; its hosts get the default certificate',
  InvalidCertificate: 'a TLS Secret tls.crt is not a PEM certificate chain; its hosts get the default certificate',
  InvalidPrivateKey: 'a TLS Secret tls.key is not a PEM private key; its hosts get the default certificate',
  KeyMismatch: 'a TLS Secret tls.key does not belong to the certificate in tls.crt; its hosts get the default certificate',
  UnusableCertificate: 'the TLS library refuses a TLS Secret (e.g. a key too small or a weak signature); its hosts get the default certificate',

  // Conflicted=True
  RouteConflict: 'an older Ingress (or an earlier rule of this one) already claims this host, path and path type',
  DefaultBackendConflict: 'an older Ingress already provides the defaultBackend; this one is not used',
  TLSConflict: 'an older Ingress (or an earlier entry of this one) already serves this TLS host with another Secret',
} as const;

/** A stable reason code: the compiler cannot set a reason that is not in the catalog. */
export type Reason = keyof typeof REASONS;
