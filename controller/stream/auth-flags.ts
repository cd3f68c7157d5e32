// `turnout controller --auth token|serviceaccount` and the flags that go with
// each mode, turned into what the StreamServer takes. Mistakes in the flag
// combination are usage errors; a configuration that cannot be loaded is a
// start-up error; both name the flag.
import { UsageError, type FlagValues } from '../../cli/flags.ts';
import { readFlagFile, readToken, StartupError } from '../../cli/startup.ts';
import { kubeTokenReviewer, parseServiceAccountList, ServiceAccountAuthenticator } from './auth.ts';
import type { Authenticator, TokenReviewer } from './auth.ts';

/** How the stream checks proxies: the shared token, or an authenticator. */
export type StreamAuth = { readonly token: string } | { readonly auth: Authenticator };

/**
 * Reads --auth, --token-file, --allowed-proxy-serviceaccounts and --kubeconfig.
 * `reviewer` replaces the Kubernetes client (tests; there is no API server here).
 */
export async function streamAuthFromFlags(
  flags: FlagValues,
  reviewer: (kubeconfig: string | undefined) => Promise<TokenReviewer> = kubeTokenReviewer,
  env: NodeJS.ProcessEnv = process.env,
): Promise<StreamAuth> {
  const mode = (flags.auth as string | undefined) ?? 'token';
  const tokenFile = flags['token-file'] as string | undefined;
  const allowedFlag = flags['allowed-proxy-serviceaccounts'] as string | undefined;
  const kubeconfig = flags.kubeconfig as string | undefined;
  if (mode === 'token') {
    if (tokenFile === undefined) throw new UsageError('controller: --token-file is required with --auth token');
    if (allowedFlag !== undefined) throw new UsageError('controller: --allowed-proxy-serviceaccounts goes with --auth serviceaccount');
    // With the Kubernetes source (no --manifests) --kubeconfig names the cluster to watch.
    if (kubeconfig !== undefined && flags.manifests !== undefined) {
      throw new UsageError('controller: --kubeconfig goes with the Kubernetes source (no --manifests) or --auth serviceaccount');
    }
    return { token: await readToken(tokenFile) };
  }
  if (tokenFile !== undefined) throw new UsageError('controller: --token-file goes with --auth token, not --auth serviceaccount');
  if (allowedFlag === undefined) {
    throw new UsageError('controller: --auth serviceaccount needs --allowed-proxy-serviceaccounts NAMESPACE/NAME[,...]');
  }
  let allowed: string[];
  try {
    allowed = parseServiceAccountList(allowedFlag);
  } catch (err) {
    throw new UsageError(`controller: --allowed-proxy-serviceaccounts: ${(err as Error).message}`);
  }
  if (allowed.length === 0) throw new UsageError('controller: --allowed-proxy-serviceaccounts names no ServiceAccount');
  if (kubeconfig === undefined && !env.KUBERNETES_SERVICE_HOST) {
    throw new StartupError('--auth serviceaccount needs the in-cluster configuration (KUBERNETES_SERVICE_HOST is not set) or --kubeconfig FILE');
  }
  if (kubeconfig !== undefined) await readFlagFile(kubeconfig, '--kubeconfig'); // names the flag if unreadable
  let review: TokenReviewer;
  try {
    review = await reviewer(kubeconfig);
  } catch (err) {
    // First line only: YAML errors go on to quote the file, and a kubeconfig holds credentials.
    throw new StartupError(`--auth serviceaccount: cannot load the Kubernetes configuration: ${String((err as Error).message).split('\n')[0]}`);
  }
  return { auth: new ServiceAccountAuthenticator({ review, allowed }) };
}
