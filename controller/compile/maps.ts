// Plain objects used as large keyed maps (hosts, clusters, endpoints). V8
// gives an object a new hidden class for every new property name, and keys
// like "10.0.3.7:8080" or "app-42.example.com" are unique: building 10k such
// objects (or one object of 10k keys) made tens of thousands of hidden
// classes per compile. Objects built here start in dictionary mode instead;
// they are still plain objects with Object.prototype (equal to a literal for
// deepStrictEqual), and JSON, freezing and lookups behave the same.

/**
 * A map of `values` by `keys`, in sorted key order, the first value of a
 * repeated key kept. Built in dictionary mode: endpoint keys are unique
 * across the cluster ("10.0.3.7:8080"), and V8 would otherwise make a new
 * hidden class for every one of them (measured: several times slower to
 * build at 10k clusters). Lookups, JSON and freezing work the same.
 */
export function keyedMap<T>(keys: readonly string[], values: readonly T[]): Record<string, T> {
  const out = dictionary<T>();
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) if (keys[i - 1]! >= keys[i]!) sorted = false;
  if (sorted) {
    for (let i = 0; i < keys.length; i++) out[keys[i]!] = values[i]!;
    return out;
  }
  const order = keys.map((_, i) => i).sort((a, b) => cmp(keys[a]!, keys[b]!) || a - b);
  for (const i of order) if (!Object.hasOwn(out, keys[i]!)) out[keys[i]!] = values[i]!;
  return out;
}

/** An empty plain object (Object.prototype, so equal to `{}` for deepStrictEqual) in dictionary mode. */
export function dictionary<T>(): Record<string, T> {
  const o = { a: 0, b: 0 } as Record<string, unknown>;
  // Deleting a property other than the last one added switches V8 to dictionary mode.
  delete o.a;
  delete o.b;
  return o as Record<string, T>;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
