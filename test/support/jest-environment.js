// Jest runs each test file in its own vm realm, but hands it Node's `structuredClone`, which builds
// its copies in Node's realm: a cloned `{}` or Date then has another realm's prototype, and
// node:assert's strict deepEqual tells it apart from an equal object the test built. This
// environment keeps Node's clone and re-creates plain objects, arrays, Dates, Maps and Sets in
// the test's realm, so the code under test clones exactly as it does in production.
import { TestEnvironment } from 'jest-environment-node';

export default class SameRealmEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    const realm = this.global;
    const nodeClone = globalThis.structuredClone;
    const rehome = (value, seen) => {
      if (value === null || typeof value !== 'object') return value;
      if (seen.has(value)) return seen.get(value);
      if (value instanceof Date) return new realm.Date(value.getTime());
      let copy;
      if (Array.isArray(value)) {
        copy = new realm.Array();
        seen.set(value, copy);
        for (const item of value) copy.push(rehome(item, seen));
      } else if (value instanceof Map) {
        copy = new realm.Map();
        seen.set(value, copy);
        for (const [k, v] of value) copy.set(rehome(k, seen), rehome(v, seen));
      } else if (value instanceof Set) {
        copy = new realm.Set();
        seen.set(value, copy);
        for (const v of value) copy.add(rehome(v, seen));
      } else if (Object.getPrototypeOf(value) === Object.prototype) {
        copy = new realm.Object();
        seen.set(value, copy);
        for (const key of Object.keys(value)) {
          Object.defineProperty(copy, key, { value: rehome(value[key], seen), enumerable: true, writable: true, configurable: true });
        }
      } else {
        return value; // typed arrays, errors and the like: as Node cloned them
      }
      return copy;
    };
    realm.structuredClone = (value, options) => rehome(nodeClone(value, options), new Map());
  }
}
