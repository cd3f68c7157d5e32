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
    attach: () => async () => {},
  };
}
