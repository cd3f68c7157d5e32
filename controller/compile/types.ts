// The compiler's interface: Kubernetes objects in, a snapshot plus per-object
// conditions out. Pure: no I/O, no clock, no randomness, deterministic output.
import type { Listener, Snapshot, TlsSecret } from '../../api/snapshot.ts';
import type { EndpointSlice, Ingress, IngressClass, Route, Secret, Service } from '../k8s/types.ts';

/** A consistent view of the cluster (or manifest folder), as the cache hands it over. */
export interface CompileInput {
  readonly ingresses: readonly Ingress[];
  readonly ingressClasses: readonly IngressClass[];
  readonly services: readonly Service[];
  readonly endpointSlices: readonly EndpointSlice[];
  readonly secrets: readonly Secret[];
  /**
   * turnout.dev Routes. Optional so that inputs built before Routes existed
   * (tests, benchmarks) still compile; absent means none.
   */
  readonly routes?: readonly Route[];
}

/** What the controller's flags decide. */
export interface CompileOptions {
  /** --ingress-class: the IngressClass name this controller serves (default "turnout"). */
  readonly ingressClass: string;
  /** Listeners the proxies open, keyed by name ("http", "https"). */
  readonly listeners: Readonly<Record<string, Listener>>;
  /** Served for hosts without a usable Secret (self-signed at start-up, or given by flag). */
  readonly defaultCertificate: TlsSecret;
  /** Upstream response-header timeout for routes that do not set one. */
  readonly defaultTimeoutMs: number;
  /**
   * --enable-external-name: serve ExternalName Services as DNS-named clusters.
   * Off by default: the name is chosen by whoever writes the Service, and
   * `localhost` or an internal name would route the Internet to the proxy's
   * own loopback services (admin port) or to anything the proxy can reach
   * (Contour's CVE-2021-XXXXX class of problem; it is opt-in there too).
   */
  readonly externalNames?: boolean;
}

/** A status condition on one object, in the Kubernetes shape. */
export interface Condition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  /** Stable CamelCase code from controller/compile/reasons.ts. */
  readonly reason: string;
  readonly message: string;
}

/** Output of one compilation. */
export interface CompileResult {
  readonly snapshot: Snapshot;
  /**
   * Conditions keyed by "Kind/namespace/name", for every object the compiler
   * considered (accepted ones get Accepted=True). Ignored objects (other
   * classes) are absent.
   */
  readonly conditions: ReadonlyMap<string, readonly Condition[]>;
}

/** The compile function's shape, so later stages can be tested with a stand-in. */
export type CompileFn = (input: CompileInput, options: CompileOptions, previous?: Snapshot) => CompileResult;
