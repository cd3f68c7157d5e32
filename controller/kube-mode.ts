// `turnout controller` against a cluster: builds the Kubernetes source from
// the flags before the controller starts, and once it runs, the status writer
// under leader election. Wiring only; each part is built and tested in its
// own module.
import type { FlagValues } from '../cli/flags.ts';
import { StartupError } from '../cli/startup.ts';
import type { Logger } from '../lib/log.ts';
import { kubeClient, type KubeClient } from './k8s/client.ts';
import { kubeSettings, type KubeSettings } from './kube-flags.ts';
import type { Controller } from './main.ts';
import { KubeSource } from './sources/kube.ts';
import { SupervisedInformer } from './sources/kube-informer.ts';
import { LeaderElector, kubeLeaseApi } from './leader.ts';
import { StatusWriter, kubeStatusApi } from './status/writer.ts';
import { publishedAddresses, type LoadBalancerIngress } from './status/diff.ts';
import { withProgrammed } from './programmed.ts';
import type { Condition } from './compile/types.ts';

/** The Kubernetes half of a controller, before and after the controller starts. */
export interface KubeMode {
  readonly settings: KubeSettings;
  readonly client: KubeClient;
  readonly source: KubeSource;
  /** Starts status writing (under leader election) for a started controller; returns its stop function. */
  attach(controller: Controller): () => Promise<void>;
}

/** Validates the flags and loads the configuration; errors name the flag. */
export async function prepareKube(flags: FlagValues, log: Logger): Promise<KubeMode> {
  const settings = kubeSettings(flags);
  let client: KubeClient;
  try {
    client = await kubeClient(settings.kubeconfig);
  } catch (err) {
    // First line only: YAML errors go on to quote the file, and a kubeconfig holds credentials.
    const where = settings.kubeconfig === undefined ? 'the in-cluster configuration' : `--kubeconfig ${settings.kubeconfig}`;
    throw new StartupError(`cannot load ${where}: ${String((err as Error).message).split('\n')[0]}`);
  }
  const source = new KubeSource({ client, ...(settings.watchNamespace ? { namespace: settings.watchNamespace } : {}), log });
  log.info('watching Kubernetes', { namespace: settings.watchNamespace ?? '(all)', leaderElection: settings.leaderElection ?? false });
  return {
    settings,
    client,
    source,
    attach: (controller) => attachStatus(controller, settings, client, source, log),
  };
}

/** How long proxy ACKs and compiles are gathered before status is recomputed. */
const PROGRAMMED_COALESCE_MS = 250;

/** The Programmed condition an object's status already shows, if any. */
function observedProgrammed(status: { conditions?: unknown } | undefined): Condition | undefined {
  const list = Array.isArray(status?.conditions) ? status.conditions as Array<Record<string, unknown>> : [];
  const c = list.find((x) => x?.type === 'Programmed');
  if (c === undefined || (c.status !== 'True' && c.status !== 'False' && c.status !== 'Unknown')) return undefined;
  return { type: 'Programmed', status: c.status, reason: String(c.reason ?? ''), message: String(c.message ?? '') };
}

/**
 * Status writing for a started controller: the writer follows every compile
 * and every observed status change, and writes only while this replica leads
 * (or always, with --leader-elect false).
 */
function attachStatus(controller: Controller, settings: KubeSettings, client: KubeClient, source: KubeSource, log: Logger): () => Promise<void> {
  let published: readonly LoadBalancerIngress[] | undefined;
  let publishInformer: SupervisedInformer | undefined;
  const identity = settings.leaderElection?.identity ?? 'turnout-controller';
  const writer = new StatusWriter({ api: kubeStatusApi(client), observed: (key) => source.observed(key), published: () => published, identity, log });
  if (settings.publish !== undefined && 'addresses' in settings.publish) {
    published = settings.publish.addresses;
  } else if (settings.publish !== undefined) {
    // Its own informer: the Service may live outside --watch-namespace, and the cache keeps no status.
    const { namespace, name } = settings.publish.service;
    let service: any;
    let synced = false;
    const update = () => {
      published = synced ? publishedAddresses(service) : undefined;
      writer.publishedChanged();
    };
    publishInformer = new SupervisedInformer({
      spec: { name: `publish-service ${namespace}/${name}`, path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/services`, fieldSelector: `metadata.name=${name}` },
      client,
      log,
      handlers: {
        upsert: (obj) => { service = obj; update(); },
        remove: () => { service = undefined; update(); },
        resynced: (objs) => { service = objs[0]; synced = true; update(); },
      },
    });
    publishInformer.start();
  }
  // The compiler's conditions plus Programmed, joined from the proxies' ACKs
  // (programmed.ts). With no proxy connected (a controller restart), each
  // object keeps the Programmed it already shows. Coalesced: an ACK from each
  // of 50 proxies is one pass over the objects, not 50.
  const joined = () => withProgrammed(controller.conditions, controller.stream.sessions(), (v) => controller.store.get(v),
    (key) => observedProgrammed(source.observed(key)?.status));
  let pending: NodeJS.Timeout | undefined;
  const push = () => {
    pending ??= setTimeout(() => {
      pending = undefined;
      writer.update(joined());
    }, PROGRAMMED_COALESCE_MS);
  };
  const offResult = controller.onResult(push);
  const offProxies = controller.stream.onProxiesChanged(push);
  const offObserved = source.onObservedChange((key) => writer.observedChanged(key));
  writer.update(joined());
  let elector: LeaderElector | undefined;
  if (settings.leaderElection !== undefined) {
    const { namespace, name } = settings.leaderElection;
    elector = new LeaderElector({
      api: kubeLeaseApi(client, namespace, name),
      namespace,
      name,
      identity,
      log,
      onStartedLeading: () => writer.setActive(true),
      onStoppedLeading: () => writer.setActive(false),
    });
    elector.start();
  } else {
    writer.setActive(true);
  }
  return async () => {
    offResult();
    offProxies();
    clearTimeout(pending);
    offObserved();
    await elector?.stop(); // stops writing first, then releases the Lease
    writer.setActive(false);
    await publishInformer?.close();
  };
}
