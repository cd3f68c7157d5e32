// Which Ingresses and Routes are ours. Several controllers usually share a
// cluster, so an object we are not sure about is ignored silently (no
// condition: it belongs to somebody else, and writing status on it would fight
// that controller).
import type { Ingress, IngressClass, Route } from '../k8s/types.ts';
import { CONTROLLER_NAME, DEFAULT_CLASS_ANNOTATION, LEGACY_CLASS_ANNOTATION } from '../k8s/types.ts';

/**
 * Decides class membership for one build. Rules, in order:
 *
 * 1. `spec.ingressClassName` set: ours iff it equals `ingressClass`. The
 *    IngressClass object need not exist (manifest folders and quick starts often
 *    omit it, and the name alone is an explicit opt-in), but if an IngressClass
 *    of that name exists and its `spec.controller` is another controller, the
 *    Ingress is that controller's and we ignore it.
 * 2. Otherwise the legacy `kubernetes.io/ingress.class` annotation, if set:
 *    same rule as 1 (name match, unless the IngressClass of that name belongs to
 *    another controller).
 * 3. Neither set: ours iff the IngressClass named `ingressClass` exists, is ours
 *    (spec.controller = CONTROLLER_NAME) and is annotated as the default class.
 *
 * An empty string counts as "not set", as the API server would reject it anyway.
 */
export class ClassFilter {
  readonly #name: string;
  readonly #foreign: boolean;
  readonly #isDefault: boolean;

  constructor(ingressClass: string, classes: readonly IngressClass[]) {
    this.#name = ingressClass;
    const own = classes.find((c) => c.metadata.name === ingressClass);
    this.#foreign = own !== undefined && own.spec?.controller !== CONTROLLER_NAME;
    this.#isDefault = own !== undefined && !this.#foreign
      && own.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true';
  }

  /** True when this controller should serve the Ingress. */
  accepts(ing: Ingress): boolean {
    return this.#acceptsName(nonEmpty(ing.spec?.ingressClassName) ?? nonEmpty(ing.metadata.annotations?.[LEGACY_CLASS_ANNOTATION]));
  }

  /**
   * True when this controller should serve the Route: rules 1 and 3 above
   * (a Route has spec.ingressClassName and no legacy annotation).
   */
  acceptsRoute(route: Route): boolean {
    return this.#acceptsName(nonEmpty(route.spec?.ingressClassName));
  }

  #acceptsName(named: string | undefined): boolean {
    if (named !== undefined) return named === this.#name && !this.#foreign;
    return this.#isDefault;
  }
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}
