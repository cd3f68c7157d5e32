// The certificate served to TLS clients whose host has no usable Secret. Like
// ingress-nginx's "fake certificate", it is self-signed at start-up unless the
// operator gives one; a handshake then succeeds and the client sees a cert
// that plainly is not the host's, instead of a connection reset.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { generate } from 'selfsigned';
import type { TlsSecret } from '../api/snapshot.ts';
import { readFlagFile } from '../cli/startup.ts';

/** The Common Name of the generated certificate, so clients and logs can recognise it. */
export const DEFAULT_CERT_CN = 'Turnout Default Certificate';

/** Generates a self-signed EC P-256 certificate valid for one year. */
export async function generateDefaultCertificate(): Promise<TlsSecret> {
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: DEFAULT_CERT_CN }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 365 * 24 * 3600_000),
  });
  return { cert: pems.cert, key: pems.private };
}

/**
 * Loads a certificate and its key from PEM files given by two flags (e.g.
 * --default-cert/--default-key), checking that the key matches, so a wrong
 * flag fails at start-up rather than at the first handshake.
 */
export async function loadKeyPair(certFile: string, keyFile: string, certFlag: string, keyFlag: string): Promise<TlsSecret> {
  const [cert, key] = await Promise.all([readFlagFile(certFile, certFlag), readFlagFile(keyFile, keyFlag)]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`${certFlag} ${certFile}: not a PEM certificate (${(err as Error).message})`);
  }
  let ok = false;
  try {
    ok = x509.checkPrivateKey(createPrivateKey(key));
  } catch {
    throw new Error(`${keyFlag} ${keyFile}: not a PEM private key`);
  }
  if (!ok) throw new Error(`${keyFlag} ${keyFile}: does not match the certificate in ${certFile}`);
  return { cert, key };
}
