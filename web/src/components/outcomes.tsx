import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Run } from '../api/client.js';
import type { RecentRuns } from '../api/recent-runs.js';
import { RUN_TONES, type Tone } from '../format/schedule.js';
import { formatInZone } from '../format/time.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** How runs ended, counted by outcome. */
function countOutcomes(runs: readonly Run[]): Record<'good' | 'bad' | 'other', number> {
  const counts = { good: 0, bad: 0, other: 0 };
  for (const run of runs) {
    const tone = RUN_TONES[run.status];
    counts[tone === 'good' ? 'good' : tone === 'bad' ? 'bad' : 'other'] += 1;
  }
  return counts;
}

/** The tone an hour shows: a failure wins, then a success, then work in flight, then a skip. */
function worstTone(runs: readonly Run[]): Tone | 'none' {
  const tones = new Set(runs.map((run) => RUN_TONES[run.status]));
  for (const tone of ['bad', 'good', 'busy', 'waiting', 'quiet'] as const) if (tones.has(tone)) return tone;
  return 'none';
}

/** The last 24 hours of a schedule's runs as 24 hourly cells, oldest first, summed up for screen readers. */
export function OutcomeStrip({ recent, now }: { recent: RecentRuns; now: number }) {
  const runs = recent.runs;
  const start = now - DAY;
  const hours = Array.from({ length: 24 }, (_, hour) =>
    runs.filter((run) => {
      const at = Date.parse(run.scheduled_for);
      return at >= start + hour * HOUR && at < start + (hour + 1) * HOUR;
    }),
  );
  const counts = countOutcomes(runs);
  const summary =
    runs.length === 0
      ? 'No runs in the last 24 hours'
      : `${recent.complete ? 'Last 24 hours' : `The newest ${runs.length} runs of the last 24 hours`}: ${counts.good} succeeded, ${counts.bad} failed, ${counts.other} other`;
  return (
    <span class="strip" role="img" aria-label={summary} title={summary}>
      {hours.map((inHour, hour) => (
        <span key={hour} class={`cell tone-${worstTone(inHour)}`} />
      ))}
    </span>
  );
}

/** Drawn back to front, each bar the sum of its own outcome and those in front of it: stacked bars. */
const LAYERS: Array<{ label: string; tone: 'good' | 'bad' | 'other'; colour: string; sum: (counts: Record<'good' | 'bad' | 'other', number>) => number }> = [
  { label: 'Other: skipped, missed, cancelled or under way', tone: 'other', colour: '#6e7781', sum: (c) => c.good + c.bad + c.other },
  { label: 'Failed or timed out', tone: 'bad', colour: '#cf222e', sum: (c) => c.good + c.bad },
  { label: 'Succeeded', tone: 'good', colour: '#1a7f37', sum: (c) => c.good },
];

/** Runs per day over the last `days` days as stacked bars (uPlot), with a legend of its own. */
export function OutcomesChart({ recent, now, days = 14 }: { recent: RecentRuns; now: number; days?: number }) {
  const runs = recent.runs;
  const container = useRef<HTMLDivElement>(null);
  const today = new Date(now);
  today.setHours(0, 0, 0, 0);
  const starts = Array.from({ length: days }, (_, i) => today.getTime() - (days - 1 - i) * DAY);
  const inDay = (run: Run, start: number) => Date.parse(run.scheduled_for) >= start && Date.parse(run.scheduled_for) < start + DAY;
  const perDay = starts.map((start) => countOutcomes(runs.filter((run) => inDay(run, start))));
  const totals = countOutcomes(runs.filter((run) => Date.parse(run.scheduled_for) >= starts[0]));

  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const bars = uPlot.paths.bars!({ size: [0.6, 40] });
    const chart = new uPlot(
      {
        width: Math.max(320, element.clientWidth),
        height: 200,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true, range: (_u, min, max) => [min - 43_200, max + 43_200] }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [{ stroke: '#24292f' }, { stroke: '#24292f', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] }],
        series: [{}, ...LAYERS.map((layer) => ({ label: layer.label, stroke: layer.colour, fill: layer.colour, paths: bars, points: { show: false } }))],
      },
      [starts.map((start) => start / 1000), ...LAYERS.map((layer) => perDay.map(layer.sum))],
      element,
    );
    return () => chart.destroy();
  }, [recent, now, days]);

  // Runs come newest first: when they were cut short, the chart says from when it counts.
  const from = recent.complete ? null : recent.runs.at(-1)?.scheduled_for;
  const summary =
    `Runs per day over the last ${days} days${from ? ` (the newest ${runs.length}, back to ${formatInZone(from)})` : ''}: ` +
    `${totals.good} succeeded, ${totals.bad} failed or timed out, ${totals.other} other (skipped, missed, cancelled or under way).`;
  return (
    <figure class="chart">
      <div ref={container} role="img" aria-label={summary} />
      <figcaption>
        {from && <p class="muted small">Only the newest {runs.length} runs are counted, back to {formatInZone(from)}.</p>}
        <ul class="legend">
          {[...LAYERS].reverse().map((layer) => (
            <li key={layer.tone}>
              <span class="swatch" style={{ background: layer.colour }} aria-hidden="true" /> {layer.label}: {totals[layer.tone]}
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}
