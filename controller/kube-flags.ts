// `turnout controller` without --manifests watches a cluster. This turns the
// Kubernetes flags into a validated KubeSettings, naming the flag in every
// mistake: --kubeconfig, --watch-namespace, --publish-service,
// --publish-address, --leader-elect, --leader-election-namespace,
// --leader-election-id.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { randomBytes } from 'node:crypto';
import { UsageError, type FlagValues } from '../cli/flags.ts';

/** Where Ingress status.loadBalancer comes from. */
export type PublishFrom =
  | { readonly service: { readonly namespace: string; readonly name: string } }
  | { readonly addresses: ReadonlyArray<{ readonly ip?: string; readonly hostname?: string }> };

/** The validated Kubernetes settings of the controller. */
export interface KubeSettings {
  /** undefined: the in-cluster configuration. */
  readonly kubeconfig?: string;
  readonly watchNamespace?: string;
  readonly publish?: PublishFrom;
  /** undefined when --leader-elect false (a single replica writes status unconditionally). */
  readonly leaderElection?: { readonly namespace: string; readonly name: string; readonly identity: string };
}

/** Flags that only make sense with the Kubernetes source. */
export const KUBE_ONLY_FLAGS = ['watch-namespace', 'publish-service', 'publish-address', 'leader-elect', 'leader-election-namespace', 'leader-election-id'] as const;

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The ServiceAccount namespace file of a pod: the default home of the Lease. */
const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * Which source the flags ask for: the manifest folder, or a cluster (kubeconfig
 * or in-cluster). Kubernetes-only flags with --manifests are a usage error,
 * not silently ignored.
 */
export function sourceMode(flags: FlagValues): 'manifests' | 'kubernetes' {
  if (flags.manifests === undefined) return 'kubernetes';
  for (const f of KUBE_ONLY_FLAGS) {
    if (flags[f] !== undefined) throw new UsageError(`controller: --${f} goes with the Kubernetes source, not --manifests`);
  }
  return 'manifests';
}

/** Validates the Kubernetes flags. `env` and `readNamespace` are injectable for tests. */
export function kubeSettings(
  flags: FlagValues,
  env: NodeJS.ProcessEnv = process.env,
  readNamespace: () => string | undefined = readServiceAccountNamespace,
): KubeSettings {
  const kubeconfig = flags.kubeconfig as string | undefined;
  if (kubeconfig === undefined && !env.KUBERNETES_SERVICE_HOST) {
    throw new UsageError('controller: give --manifests DIR, --kubeconfig FILE, or run in a cluster (KUBERNETES_SERVICE_HOST is not set)');
  }
  const watchNamespace = flags['watch-namespace'] as string | undefined;
  if (watchNamespace !== undefined && !LABEL.test(watchNamespace)) {
    throw new UsageError(`controller: --watch-namespace must be a namespace name, got ${JSON.stringify(watchNamespace)}`);
  }
  const publish = publishFrom(flags['publish-service'] as string | undefined, flags['publish-address'] as string | undefined);
  const elect = (flags['leader-elect'] as string | undefined) ?? 'true';
  if (elect !== 'true' && elect !== 'false') throw new UsageError(`controller: --leader-elect must be true or false, got ${JSON.stringify(elect)}`);
  let leaderElection: KubeSettings['leaderElection'];
  if (elect === 'true') {
    const namespace = (flags['leader-election-namespace'] as string | undefined) ?? env.POD_NAMESPACE ?? readNamespace() ?? watchNamespace ?? 'default';
    if (!LABEL.test(namespace)) throw new UsageError(`controller: --leader-election-namespace must be a namespace name, got ${JSON.stringify(namespace)}`);
    const name = (flags['leader-election-id'] as string | undefined) ?? 'turnout-controller';
    if (!SUBDOMAIN.test(name)) throw new UsageError(`controller: --leader-election-id must be a DNS subdomain (a Lease name), got ${JSON.stringify(name)}`);
    // client-go's choice: hostname plus a random suffix, so a restarted pod with the same name is a new holder.
    const identity = `${env.POD_NAME ?? hostname()}_${randomBytes(4).toString('hex')}`;
    leaderElection = { namespace, name, identity };
  } else if (flags['leader-election-namespace'] !== undefined || flags['leader-election-id'] !== undefined) {
    throw new UsageError('controller: --leader-election-namespace and --leader-election-id need --leader-elect true');
  }
  return {
    ...(kubeconfig !== undefined ? { kubeconfig } : {}),
    ...(watchNamespace !== undefined ? { watchNamespace } : {}),
    ...(publish !== undefined ? { publish } : {}),
    ...(leaderElection !== undefined ? { leaderElection } : {}),
  };
}

/** --publish-service NS/NAME or --publish-address IP|HOSTNAME[,...], not both. */
export function publishFrom(service: string | undefined, address: string | undefined): PublishFrom | undefined {
  if (service !== undefined && address !== undefined) throw new UsageError('controller: give --publish-service or --publish-address, not both');
  if (service !== undefined) {
    const [namespace, name, extra] = service.split('/');
    if (extra !== undefined || namespace === undefined || name === undefined || !LABEL.test(namespace) || !LABEL.test(name)) {
      throw new UsageError(`controller: --publish-service must be NAMESPACE/NAME, got ${JSON.stringify(service)}`);
    }
    return { service: { namespace, name } };
  }
  if (address !== undefined) {
    const parts = address.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (parts.length === 0) throw new UsageError('controller: --publish-address names no address');
    return {
      addresses: parts.map((p) => {
        if (isIP(p) !== 0) return { ip: p };
        if (SUBDOMAIN.test(p)) return { hostname: p };
        throw new UsageError(`controller: --publish-address must be IP addresses or DNS names, got ${JSON.stringify(p)}`);
      }),
    };
  }
  return undefined;
}

function readServiceAccountNamespace(): string | undefined {
  try {
    return readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
