import type { Schedule } from '../domain/schedule.js';

/** The strong entity tag of a schedule's representation: its version, quoted (`"3"`). */
export function scheduleEtag(schedule: Schedule): string {
  return `"${schedule.version}"`;
}

/** One entity tag of a list and the separator after it (RFC 9110 §8.8.3; etagc is any visible character but `"`). */
const ENTITY_TAG = /[ \t]*(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"[ \t]*(?:,|$)/y;
const VERSION = /^[1-9][0-9]{0,14}$/;

/**
 * The versions an If-Match header (RFC 9110 §13.1.1) lets an update apply to: undefined when any
 * will do (no header, or `*`), otherwise those its entity tags name. If-Match compares strongly, so
 * a weak tag names none; nor does a tag that is not a quoted version, nor a header that is not a
 * list of entity tags: then the list is empty and the precondition fails whatever the version.
 */
export function versionsIfMatch(header: string | undefined): readonly number[] | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  const versions: number[] = [];
  ENTITY_TAG.lastIndex = 0;
  while (ENTITY_TAG.lastIndex < header.length) {
    const tag = ENTITY_TAG.exec(header);
    if (!tag) return [];
    const [, weak, opaque] = tag;
    if (!weak && VERSION.test(opaque)) versions.push(Number(opaque));
  }
  return versions;
}
