// Manifests the end-to-end tests write into their temporary folder.

/** Services a, b, c with EndpointSlices on the echo backends' ports, plus one with no ready endpoint. */
export function servicesYaml(ports: Record<'a' | 'b' | 'c', number>): string {
  const svc = (name: string, port: number, ready = true) => `
apiVersion: v1
kind: Service
metadata: {name: svc-${name}, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: ${port}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc-${name}-1
  namespace: default
  labels: {kubernetes.io/service-name: svc-${name}}
addressType: IPv4
ports: [{name: http, port: ${port}}]
endpoints:
  - addresses: [127.0.0.1]
    conditions: {ready: ${ready}}
---`;
  return svc('a', ports.a) + svc('b', ports.b) + svc('c', ports.c) + svc('empty', 1, false);
}

/** The routes under test; `main` is the backend of b.test's "/" and an optional extra path is added. */
export function routesYaml(opts: { main: string; extraPath?: string; extraTarget?: string }): string {
  const extra = opts.extraPath
    ? `
          - path: ${opts.extraPath}
            pathType: Exact
            backend: {service: {name: svc-${opts.extraTarget}, port: {number: 80}}}`
    : '';
  return `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: main, namespace: default}
spec:
  ingressClassName: turnout
  rules:
    - host: b.test
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: svc-${opts.main}, port: {number: 80}}}
          - path: /steady
            pathType: Prefix
            backend: {service: {name: svc-b, port: {name: http}}}
          - path: /exact
            pathType: Exact
            backend: {service: {name: svc-a, port: {number: 80}}}
          - path: /api/
            pathType: Prefix
            backend: {service: {name: svc-c, port: {number: 80}}}${extra}
    - host: "*.wild.test"
      http:
        paths:
          - path: /
            pathType: ImplementationSpecific
            backend: {service: {name: svc-c, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: unready, namespace: default}
spec:
  ingressClassName: turnout
  rules:
    - host: empty.test
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: svc-empty, port: {number: 80}}}}]}
    - host: missing.test
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: svc-nope, port: {number: 80}}}}]}
`;
}

/** A TLS host with a throwaway self-signed certificate for CN=secure.test. */
export function tlsYaml(): string {
  return `
apiVersion: v1
kind: Secret
metadata: {name: secure-tls, namespace: default}
type: kubernetes.io/tls
data:
  tls.crt: ${Buffer.from(SECURE_CERT).toString('base64')}
  tls.key: ${Buffer.from(SECURE_KEY).toString('base64')}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: secure, namespace: default}
spec:
  ingressClassName: turnout
  tls: [{hosts: [secure.test], secretName: secure-tls}]
  rules:
    - host: secure.test
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: svc-a, port: {number: 80}}}}]}
`;
}

// Throwaway test key pair (openssl, EC P-256, CN=secure.test). Not a secret.
const SECURE_CERT = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIULq3mx/h+yML70B6sg3rZ2AFM5oIwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLc2VjdXJlLnRlc3QwIBcNMjYxMTI1MTkyNTQ2WhgPMjEyNjEx
MDExOTI1NDZaMBYxFDASBgNVBAMMC3NlY3VyZS50ZXN0MFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEjdw2X6+Xlz3FTgrIjdBm/7Dtd3hAt77M3oPHTz29+tOPijqm
sGcrj792XghT5wXRmGFiKy7KXOgz57TK9D/9ZaNrMGkwHQYDVR0OBBYEFNTArsIi
96TqI9V+K+Ts2ICjwmffMB8GA1UdIwQYMBaAFNTArsIi96TqI9V+K+Ts2ICjwmff
MA8GA1UdEwEB/wQFMAMBAf8wFgYDVR0RBA8wDYILc2VjdXJlLnRlc3QwCgYIKoZI
zj0EAwIDSAAwRQIhAMWSm3NjLqlPMzCnVQXZYUciGAHW6BAhKRgiY3UcXCBTAiBH
J/uK3EBdisLG51q4h8QXBJ6ViNjKpmQc+5LvGUHZZA==
-----END CERTIFICATE-----
`;
const SECURE_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgovlJrCmdNn3VI35Z
6MzjnRCDPTXr/+E8sn4pujr7DPKhRANCAASN3DZfr5eXPcVOCsiN0Gb/sO13eEC3
vszeg8dPPb3604+KOqawZyuPv3ZeCFPnBdGYYWIrLspc6DPntMr0P/1l
-----END PRIVATE KEY-----
`;
