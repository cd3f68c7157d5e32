// TLS Secrets: a Secret referenced by an Ingress is checked completely (type,
// base64, PEM, key matches certificate) before it reaches a proxy, because a
// proxy that fails a handshake has no way to tell anyone. Parsing is pure
// computation, so it belongs in the compiler; it is also the most expensive
// step of a build, hence the content-addressed cache below.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { TlsSecret } from '../../api/snapshot.ts';
import type { Secret } from '../k8s/types.ts';
import type { Reason } from './reasons.ts';

/** The outcome of checking one Secret. Messages never contain key material. */
export type SecretCheck =
  | { readonly ok: true; readonly secret: TlsSecret }
  | { readonly ok: false; readonly reason: Reason; readonly message: string };

/** Outcome of checking the content alone; the Secret's name is added per build. */
type ContentCheck = { readonly ok: true; readonly secret: TlsSecret } | { readonly ok: false; readonly reason: Reason; readonly why: string };

/**
 * Content hash → check result. Module-level so consecutive builds (and the 10k
 * Ingresses of one build) share it; a pure cache, since the result depends only
 * on the bytes. Bounded: at MAX_CACHED entries the oldest entry is evicted
 * (Map keeps insertion order; a hit re-inserts, so this is LRU).
 */
const cache = new Map<string, ContentCheck>();
/** More distinct TLS Secrets than any cluster we expect; each entry is a few kB. */
export const MAX_CACHED = 4096;

const TLS_TYPE = 'kubernetes.io/tls';
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const CERT_BLOCK_RE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Checks a Secret for use as a TLS certificate. `id` ("namespace/name") is only
 * used in messages. Accepts type kubernetes.io/tls, or any type carrying
 * tls.crt and tls.key (Opaque secrets made by hand or by cert tools often do).
 */
export function checkTlsSecret(secret: Secret | undefined, id: string): SecretCheck {
  if (!secret) return { ok: false, reason: 'SecretNotFound', message: `Secret ${id} not found` };
  const crt = secret.data?.['tls.crt'];
  const key = secret.data?.['tls.key'];
  if (secret.type !== TLS_TYPE && (crt === undefined || key === undefined)) {
    return { ok: false, reason: 'InvalidSecretType', message: `Secret ${id} is not of type ${TLS_TYPE} and has no tls.crt and tls.key` };
  }
  if (!crt || !key) return { ok: false, reason: 'InvalidSecretData', message: `Secret ${id} has an empty or missing tls.crt or tls.key` };

  const hash = createHash('sha256').update(crt).update('\0').update(key).digest('hex');
  let res = cache.get(hash);
  if (res !== undefined) {
    cache.delete(hash);
  } else {
    res = checkContent(crt, key);
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  }
  cache.set(hash, res);
  return res.ok ? res : { ok: false, reason: res.reason, message: `Secret ${id}: ${res.why}` };
}

/** The number of cached check results (for tests). */
export function cachedSecretChecks(): number {
  return cache.size;
}

// OpenSSL reasons are fixed phrases ("ee key too small"); keep only such text, never anything longer.
function opensslReason(err: unknown): string {
  const m = /^[\w :.-]{1,80}$/.exec((err as Error).message ?? '');
  return m ? m[0] : 'unusable certificate or key';
}

function checkContent(crtB64: string, keyB64: string): ContentCheck {
  if (!BASE64_RE.test(crtB64) || !BASE64_RE.test(keyB64)) {
    return { ok: false, reason: 'InvalidSecretData', why: 'tls.crt or tls.key is not valid base64' };
  }
  const cert = Buffer.from(crtB64, 'base64').toString('utf8');
  const key = Buffer.from(keyB64, 'base64').toString('utf8');
  const blocks = cert.match(CERT_BLOCK_RE);
  if (!blocks) return { ok: false, reason: 'InvalidCertificate', why: 'tls.crt holds no PEM certificate' };
  let leaf: X509Certificate;
  try {
    // Every block of the chain must parse; the first is the leaf the key belongs to.
    leaf = blocks.map((block) => new X509Certificate(block))[0]!;
  } catch {
    return { ok: false, reason: 'InvalidCertificate', why: 'tls.crt holds a PEM block that is not a valid X.509 certificate' };
  }
  let matches: boolean;
  try {
    // Crypto error messages are generic, but we still never echo them: a
    // message must not be able to carry any part of the key.
    matches = leaf.checkPrivateKey(createPrivateKey(key));
  } catch {
    return { ok: false, reason: 'InvalidPrivateKey', why: 'tls.key is not an unencrypted PEM private key' };
  }
  if (!matches) return { ok: false, reason: 'KeyMismatch', why: 'tls.key does not match the certificate in tls.crt' };
  try {
    // What the proxy will do with it: OpenSSL's security level refuses some
    // pairs that parse (a 512-bit RSA key, an MD5 signature). Refused here, the
    // host falls back to the default certificate; refused by the proxy, the
    // whole snapshot would be.
    createSecureContext({ cert, key });
  } catch (err) {
    return { ok: false, reason: 'UnusableCertificate', why: `the TLS library refuses the pair (${opensslReason(err)})` };
  }
  return { ok: true, secret: Object.freeze({ cert, key }) };
}

/**
 * The Secrets of one build, indexed, with each referenced Secret checked at
 * most once per build (hashing 10k times would still cost).
 */
export class SecretIndex {
  readonly #secrets = new Map<string, Secret>();
  readonly #checked = new Map<string, SecretCheck>();

  constructor(secrets: readonly Secret[]) {
    for (const s of secrets) this.#secrets.set(`${s.metadata.namespace ?? 'default'}/${s.metadata.name}`, s);
  }

  /** Checks Secret `namespace/name`. */
  check(namespace: string, name: string): SecretCheck {
    const id = `${namespace}/${name}`;
    let res = this.#checked.get(id);
    if (res === undefined) {
      res = checkTlsSecret(this.#secrets.get(id), id);
      this.#checked.set(id, res);
    }
    return res;
  }
}
