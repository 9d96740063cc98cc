/**
 * A schedule's labels: up to MAX_LABELS `key: value` pairs in Kubernetes' label syntax, to find
 * and act on schedules as a fleet (`GET /schedule?label=…`, `POST /schedule/bulk`).
 */
export type Labels = Record<string, string>;

export const MAX_LABELS = 20;
/** `label=` selectors one list takes at most. */
export const MAX_LABEL_SELECTORS = 10;

// A name (and a value, which may also be empty): at most 63 characters, alphanumeric at both ends,
// `-`, `_` and `.` between. A key is a name, optionally after a DNS subdomain prefix and `/`.
const NAME = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

/** Why `key` is not a label key, or null when it is. */
export function labelKeyProblem(key: string): string | null {
  const slash = key.indexOf('/');
  const prefix = slash < 0 ? null : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== null && (prefix.length > 253 || !prefix.split('.').every((part) => DNS_LABEL.test(part)))) {
    return `label key ${JSON.stringify(key)} has a prefix that is not a DNS subdomain (lowercase, at most 253 characters)`;
  }
  if (!NAME.test(name)) {
    return `label key ${JSON.stringify(key)} must be at most 63 characters [A-Za-z0-9-_.], alphanumeric at both ends, after an optional prefix/`;
  }
  return null;
}

/** Why `value` is not a label value, or null when it is. */
export function labelValueProblem(value: unknown): string | null {
  if (typeof value !== 'string') return 'label values must be strings';
  if (value !== '' && !NAME.test(value)) {
    return `label value ${JSON.stringify(value)} must be empty or at most 63 characters [A-Za-z0-9-_.], alphanumeric at both ends`;
  }
  return null;
}

/** Why `labels` (as the wire carries them) are not labels, or null when they are. */
export function labelsProblem(labels: unknown): string | null {
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) return 'labels must be an object of key: value strings';
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) return `labels may hold at most ${MAX_LABELS} pairs; got ${entries.length}`;
  for (const [key, value] of entries) {
    const problem = labelKeyProblem(key) ?? labelValueProblem(value);
    if (problem) return problem;
  }
  return null;
}

/** One `label=` selector: `key=value` (has the label with that value) or a bare `key` (has the label). */
export interface LabelSelector {
  key: string;
  /** null: any value. */
  value: string | null;
}

/** The selector a `label=` query value says, or why it says none. */
export function labelSelectorOf(text: string): LabelSelector | string {
  const eq = text.indexOf('=');
  const key = eq < 0 ? text : text.slice(0, eq);
  const value = eq < 0 ? null : text.slice(eq + 1);
  return labelKeyProblem(key) ?? (value === null ? null : labelValueProblem(value)) ?? { key, value };
}

/** Whether `labels` pass every selector. */
export function labelsMatch(labels: Labels, selectors: readonly LabelSelector[]): boolean {
  return selectors.every(({ key, value }) => Object.hasOwn(labels, key) && (value === null || labels[key] === value));
}
