// Structural checks of the objects Turnout reads, for input that did not pass
// through the API server's OpenAPI validation (the manifest folder). In a
// cluster `rules: [~]` or `port: "x"` can never exist; from a folder it can,
// and the compiler must only ever see objects of the shapes in types.ts.
// Only the fields the compiler reads are checked; everything else is ignored.

/** A field's expected shape; every object field is optional, and null counts as absent (as on the API). */
export type Shape =
  | 'string' | 'int' | 'bool' | 'int-or-string'
  | { readonly obj: Readonly<Record<string, Shape>> }
  | { readonly arr: Shape }
  | { readonly map: 'string' };

const str = 'string' as const;
const stringMap = { map: str } as const;
const metadata: Shape = {
  obj: { name: str, namespace: str, uid: str, resourceVersion: str, creationTimestamp: str, generation: 'int', labels: stringMap, annotations: stringMap },
};
const backend: Shape = {
  obj: {
    service: { obj: { name: str, port: { obj: { number: 'int', name: str } } } },
    resource: { obj: { apiGroup: str, kind: str, name: str } },
  },
};

const valueMatch: Shape = { obj: { name: str, type: str, value: str } };
const routeBackend: Shape = { obj: { name: str, namespace: str, port: 'int', weight: 'int' } };
const pathModifier: Shape = { obj: { type: str, value: str } };
const header: Shape = { obj: { name: str, value: str } };
const headerFilter: Shape = { obj: { set: { arr: header }, add: { arr: header }, remove: { arr: str } } };

const SHAPES: Readonly<Record<string, Shape>> = {
  Ingress: {
    obj: {
      metadata,
      spec: {
        obj: {
          ingressClassName: str,
          defaultBackend: backend,
          rules: { arr: { obj: { host: str, http: { obj: { paths: { arr: { obj: { path: str, pathType: str, backend } } } } } } } },
          tls: { arr: { obj: { hosts: { arr: str }, secretName: str } } },
        },
      },
    },
  },
  IngressClass: { obj: { metadata, spec: { obj: { controller: str } } } },
  Service: {
    obj: {
      metadata,
      spec: { obj: { type: str, externalName: str, ports: { arr: { obj: { name: str, port: 'int', targetPort: 'int-or-string', protocol: str, appProtocol: str } } } } },
    },
  },
  EndpointSlice: {
    obj: {
      metadata,
      addressType: str,
      endpoints: { arr: { obj: { addresses: { arr: str }, conditions: { obj: { ready: 'bool', serving: 'bool', terminating: 'bool' } }, zone: str, nodeName: str } } },
      ports: { arr: { obj: { name: str, port: 'int', protocol: str, appProtocol: str } } },
    },
  },
  Secret: { obj: { metadata, type: str, data: stringMap } },
  Route: {
    obj: {
      metadata,
      spec: {
        obj: {
          ingressClassName: str,
          hostnames: { arr: str },
          tls: { obj: { mode: str, secretName: str } },
          rules: {
            arr: {
              obj: {
                matches: {
                  arr: {
                    obj: {
                      path: { obj: { type: str, value: str } },
                      headers: { arr: valueMatch },
                      queryParams: { arr: valueMatch },
                      method: str,
                    },
                  },
                },
                backends: { arr: routeBackend },
                filters: {
                  obj: {
                    requestRedirect: { obj: { scheme: str, hostname: str, port: 'int', path: pathModifier, statusCode: 'int' } },
                    urlRewrite: { obj: { hostname: str, path: pathModifier } },
                    requestHeaders: headerFilter,
                    responseHeaders: headerFilter,
                    requestMirror: { obj: { backend: { obj: { name: str, namespace: str, port: 'int' } }, percent: 'int' } },
                  },
                },
                timeouts: { obj: { request: str, backendRequest: str, idle: str } },
                retries: { obj: { attempts: 'int', on: { arr: 'int-or-string' }, perTryTimeout: str, backoff: str } },
              },
            },
          },
          tcp: { obj: { port: 'int', backends: { arr: routeBackend } } },
        },
      },
    },
  },
};

// Fields the API server requires; a missing one is reported like a wrong type.
const REQUIRED: Readonly<Record<string, readonly string[]>> = {
  'Ingress.spec.rules[].http.paths[]': ['pathType', 'backend'],
  'Service.spec.ports[]': ['port'],
  'EndpointSlice': ['addressType'],
  'EndpointSlice.endpoints[]': ['addresses'],
  'Route.spec.rules[].matches[].headers[]': ['name', 'value'],
  'Route.spec.rules[].matches[].queryParams[]': ['name', 'value'],
  'Route.spec.rules[].backends[]': ['name', 'port'],
  'Route.spec.rules[].filters.requestRedirect.path': ['type', 'value'],
  'Route.spec.rules[].filters.urlRewrite.path': ['type', 'value'],
  'Route.spec.rules[].filters.requestHeaders.set[]': ['name', 'value'],
  'Route.spec.rules[].filters.requestHeaders.add[]': ['name', 'value'],
  'Route.spec.rules[].filters.responseHeaders.set[]': ['name', 'value'],
  'Route.spec.rules[].filters.responseHeaders.add[]': ['name', 'value'],
  'Route.spec.rules[].filters.requestMirror': ['backend'],
  'Route.spec.rules[].filters.requestMirror.backend': ['name', 'port'],
  'Route.spec.tcp.backends[]': ['name', 'port'],
};

/** The shape checked for `kind`, if any (tests compare it with the CRD schema). */
export function shapeOf(kind: string): Shape | undefined {
  return SHAPES[kind];
}

/**
 * Checks `obj` against the shape of its kind. Returns undefined when it fits,
 * else a message naming the first field that does not, e.g.
 * `spec.rules[0].http.paths: must be a list`.
 */
export function shapeProblem(kind: string, obj: unknown): string | undefined {
  const shape = SHAPES[kind];
  return shape === undefined ? undefined : check(obj, shape, '', kind);
}

function check(v: unknown, shape: Shape, path: string, schemaPath: string): string | undefined {
  const where = path === '' ? 'the object' : path;
  if (typeof shape === 'string') {
    const ok = shape === 'string' ? typeof v === 'string'
      : shape === 'int' ? Number.isInteger(v)
      : shape === 'bool' ? typeof v === 'boolean'
      : typeof v === 'string' || Number.isInteger(v);
    return ok ? undefined : `${where}: must be ${shape === 'int-or-string' ? 'an integer or a string' : shape === 'int' ? 'an integer' : `a ${shape === 'bool' ? 'boolean' : 'string'}`}`;
  }
  if ('arr' in shape) {
    if (!Array.isArray(v)) return `${where}: must be a list`;
    for (let i = 0; i < v.length; i++) {
      if (v[i] === null || v[i] === undefined) return `${path}[${i}]: must not be empty`;
      const p = check(v[i], shape.arr, `${path}[${i}]`, `${schemaPath}[]`);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return `${where}: must be ${'map' in shape ? 'a map of strings' : 'an object'}`;
  const o = v as Record<string, unknown>;
  if ('map' in shape) {
    for (const [k, val] of Object.entries(o)) if (typeof val !== 'string') return `${path}.${k}: must be a string (quote it in YAML)`;
    return undefined;
  }
  for (const field of REQUIRED[schemaPath] ?? []) {
    if (o[field] === undefined || o[field] === null) return `${join(path, field)}: is required`;
  }
  for (const [field, sub] of Object.entries(shape.obj)) {
    const val = o[field];
    if (val === undefined || val === null) continue;
    const p = check(val, sub, join(path, field), `${schemaPath}.${field}`);
    if (p !== undefined) return p;
  }
  return undefined;
}

function join(path: string, field: string): string {
  return path === '' ? field : `${path}.${field}`;
}
