import type { Tone } from '../format/schedule.js';

/** A status in words, coloured by its tone. */
export function Badge({ tone, children }: { tone: Tone; children: string }) {
  return <span class={`badge tone-${tone}`}>{children}</span>;
}
