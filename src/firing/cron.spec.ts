import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import type { Schedule } from '../domain/schedule.js';
import { cronExpressionProblem, fireIntervalProblem, nextCronTime, nextFireAfter, upcomingFires } from './cron.js';
import { localOrdinal, minutesOf, offsetChanges, oracleFires } from '../../test/support/cron-oracle.js';

describe('cronExpressionProblem', () => {
  it('accepts 5-field cron and 6-field cron with seconds', () => {
    assert.equal(cronExpressionProblem('0 9 * * 1-5'), null);
    assert.equal(cronExpressionProblem('*/2 * * * * *'), null);
    assert.equal(cronExpressionProblem('0 9 * * 7', 'Asia/Shanghai'), null);
  });

  it('rejects other field counts, nicknames, bad values and expressions that never fire', () => {
    assert.match(cronExpressionProblem('* * * *')!, /got 4/);
    assert.match(cronExpressionProblem('0 0 0 * * * 2027')!, /got 7/);
    assert.match(cronExpressionProblem('@daily')!, /got 1/);
    assert.match(cronExpressionProblem('61 * * * *')!, /not a valid cron expression/);
    assert.equal(cronExpressionProblem('0 0 30 2 *'), 'never fires');
  });
});

describe('fireIntervalProblem', () => {
  const from = new Date('2026-03-01T00:00:00Z');

  it('accepts every valid expression when the minimum is a second', () => {
    assert.equal(fireIntervalProblem('* * * * * *', 'UTC', 1, from), null);
  });

  it('refuses expressions that fire more often than the minimum, naming the shortest gap', () => {
    assert.equal(fireIntervalProblem('* * * * *', 'UTC', 60, from), null);
    assert.match(fireIntervalProblem('*/30 * * * * *', 'UTC', 60, from)!, /every 30 s; at least 60 s/);
    assert.match(fireIntervalProblem('* * * * * *', 'Europe/Berlin', 2, from)!, /every 1 s/);
    assert.equal(fireIntervalProblem('*/5 * * * *', 'UTC', 300, from), null);
    assert.match(fireIntervalProblem('*/5 * * * *', 'UTC', 301, from)!, /every 300 s/);
  });

  it('finds a burst among otherwise rare fires', () => {
    // Twice a day, the two fires ten seconds apart.
    assert.match(fireIntervalProblem('0,10 0 9 * * *', 'UTC', 60, from)!, /every 10 s/);
    assert.equal(fireIntervalProblem('0 0 9,21 * * *', 'UTC', 3600, from), null);
  });

  it('reads the expression in the schedule’s time zone', () => {
    // 01:00, 01:59, 03:00, 03:59: 59 or 61 minutes apart, except where clocks go forward at 02:00
    // (Berlin, 2026-03-29): there 01:59 and 03:00 are one minute apart.
    const march = new Date('2026-03-28T12:00:00Z');
    assert.equal(fireIntervalProblem('0 0,59 1,3 * * *', 'UTC', 3000, march), null);
    assert.match(fireIntervalProblem('0 0,59 1,3 * * *', 'Europe/Berlin', 3000, march)!, /every 60 s/);
  });
});

type Timing = Pick<
  Schedule,
  'id' | 'cronExpression' | 'fireAt' | 'everySeconds' | 'anchorAt' | 'jitterSeconds' | 'timezone' | 'enabled' | 'startedAt' | 'endedAt'
>;

function timing(overrides: Partial<Timing> = {}): Timing {
  return {
    id: 'schedule-1',
    cronExpression: '0 9 * * *',
    fireAt: null,
    everySeconds: null,
    anchorAt: null,
    jitterSeconds: 0,
    timezone: 'UTC',
    enabled: true,
    startedAt: null,
    endedAt: null,
    ...overrides,
  };
}

const d = (iso: string) => new Date(iso);
const isos = (dates: Date[]) => dates.map((x) => x.toISOString());

/** Wall-clock time and offset in a zone, e.g. `2026-03-29 03:00 GMT+2`. */
function local(at: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('sv-SE', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    timeZoneName: 'shortOffset',
  }).format(at);
}

describe('nextFireAfter', () => {
  it('returns the first fire time strictly after the given instant', () => {
    const s = timing();
    assert.equal(nextFireAfter(s, d('2026-05-04T08:59:59.999Z'))?.toISOString(), '2026-05-04T09:00:00.000Z');
    assert.equal(nextFireAfter(s, d('2026-05-04T09:00:00.000Z'))?.toISOString(), '2026-05-05T09:00:00.000Z');
    assert.equal(nextFireAfter(s, d('2026-05-04T09:00:00.001Z'))?.toISOString(), '2026-05-05T09:00:00.000Z');
  });

  it('steps whole seconds for six-field expressions, dropping the milliseconds of `after`', () => {
    const s = timing({ cronExpression: '* * * * * *' });
    assert.equal(nextFireAfter(s, d('2026-05-04T09:00:00.000Z'))?.toISOString(), '2026-05-04T09:00:01.000Z');
    assert.equal(nextFireAfter(s, d('2026-05-04T09:00:00.500Z'))?.toISOString(), '2026-05-04T09:00:01.000Z');
    const every15s = timing({ cronExpression: '*/15 * * * * *' });
    assert.equal(nextFireAfter(every15s, d('2026-05-04T09:00:15.000Z'))?.toISOString(), '2026-05-04T09:00:30.000Z');
  });

  it('reads the expression in the schedule time zone', () => {
    assert.equal(
      nextFireAfter(timing({ timezone: 'Asia/Shanghai' }), d('2026-05-01T00:00:00Z'))?.toISOString(),
      '2026-05-01T01:00:00.000Z',
    );
    assert.equal(
      nextFireAfter(timing({ timezone: 'America/New_York' }), d('2026-05-01T00:00:00Z'))?.toISOString(),
      '2026-05-01T13:00:00.000Z',
    );
  });

  it('treats the UTC aliases as UTC', () => {
    for (const timezone of ['UTC', 'Etc/UTC', 'GMT', 'Etc/GMT', 'Zulu']) {
      assert.equal(
        nextFireAfter(timing({ timezone }), d('2026-05-01T00:00:00Z'))?.toISOString(),
        '2026-05-01T09:00:00.000Z',
        timezone,
      );
    }
  });

  it('uses standard cron day meanings: 7 is Sunday, day-of-month OR day-of-week when both are restricted', () => {
    // 2026-05-01 is a Friday, 2026-05-03 a Sunday.
    assert.equal(
      nextFireAfter(timing({ cronExpression: '0 9 * * 7' }), d('2026-05-01T00:00:00Z'))?.toISOString(),
      '2026-05-03T09:00:00.000Z',
    );
    assert.equal(
      nextFireAfter(timing({ cronExpression: '0 9 * * 0' }), d('2026-05-01T00:00:00Z'))?.toISOString(),
      '2026-05-03T09:00:00.000Z',
    );
    assert.deepEqual(isos(upcomingFires(timing({ cronExpression: '0 9 13 * 5' }), d('2026-05-01T00:00:00Z'), 4)), [
      '2026-05-01T09:00:00.000Z', // Friday
      '2026-05-08T09:00:00.000Z', // Friday
      '2026-05-13T09:00:00.000Z', // the 13th, a Wednesday
      '2026-05-15T09:00:00.000Z', // Friday
    ]);
  });

  it('returns null for a disabled schedule', () => {
    assert.equal(nextFireAfter(timing({ enabled: false }), d('2026-05-01T00:00:00Z')), null);
  });

  it('returns null when the expression never fires', () => {
    assert.equal(nextFireAfter(timing({ cronExpression: '0 0 30 2 *' }), d('2026-05-01T00:00:00Z')), null);
  });

  it('does not fire before startedAt, and startedAt itself is inclusive', () => {
    const after = d('2026-05-01T00:00:00Z');
    assert.equal(
      nextFireAfter(timing({ startedAt: d('2026-05-10T09:00:00.000Z') }), after)?.toISOString(),
      '2026-05-10T09:00:00.000Z',
    );
    assert.equal(
      nextFireAfter(timing({ startedAt: d('2026-05-10T09:00:00.001Z') }), after)?.toISOString(),
      '2026-05-11T09:00:00.000Z',
    );
    // A startedAt already past changes nothing.
    assert.equal(
      nextFireAfter(timing({ startedAt: d('2026-01-01T00:00:00Z') }), after)?.toISOString(),
      '2026-05-01T09:00:00.000Z',
    );
  });

  it('does not fire after endedAt, and endedAt itself is inclusive', () => {
    const after = d('2026-05-01T00:00:00Z');
    assert.equal(
      nextFireAfter(timing({ endedAt: d('2026-05-01T09:00:00.000Z') }), after)?.toISOString(),
      '2026-05-01T09:00:00.000Z',
    );
    assert.equal(nextFireAfter(timing({ endedAt: d('2026-05-01T08:59:59.999Z') }), after), null);
    assert.equal(nextFireAfter(timing({ endedAt: d('2026-04-30T00:00:00Z') }), after), null);
  });

  describe('across DST changes in Europe/Berlin', () => {
    const berlin = (overrides: Partial<Timing> = {}) =>
      timing({ timezone: 'Europe/Berlin', cronExpression: '30 2 * * *', ...overrides });

    it('fires a daily 02:30 once, at 03:00 local, on the spring-forward day (2026-03-29)', () => {
      const fires = upcomingFires(berlin(), d('2026-03-27T12:00:00Z'), 4);
      assert.deepEqual(isos(fires), [
        '2026-03-28T01:30:00.000Z',
        '2026-03-29T01:00:00.000Z',
        '2026-03-30T00:30:00.000Z',
        '2026-03-31T00:30:00.000Z',
      ]);
      assert.deepEqual(
        fires.map((at) => local(at, 'Europe/Berlin')),
        ['2026-03-28 02:30 GMT+1', '2026-03-29 03:00 GMT+2', '2026-03-30 02:30 GMT+2', '2026-03-31 02:30 GMT+2'],
      );
    });

    it('fires a daily 02:30 once, at its first occurrence, on the fall-back day (2026-10-25)', () => {
      const fires = upcomingFires(berlin(), d('2026-10-23T12:00:00Z'), 4);
      assert.deepEqual(isos(fires), [
        '2026-10-24T00:30:00.000Z',
        '2026-10-25T00:30:00.000Z',
        '2026-10-26T01:30:00.000Z',
        '2026-10-27T01:30:00.000Z',
      ]);
      assert.equal(local(fires[1], 'Europe/Berlin'), '2026-10-25 02:30 GMT+2');
      // From the first occurrence, the second one (01:30Z, 02:30 GMT+1) is skipped.
      assert.equal(nextFireAfter(berlin(), d('2026-10-25T00:30:00Z'))?.toISOString(), '2026-10-26T01:30:00.000Z');
    });

    it('fires an hourly :30 at both 02:30s on the fall-back day and skips the missing hour in spring', () => {
      const hourly = berlin({ cronExpression: '30 * * * *' });
      assert.deepEqual(isos(upcomingFires(hourly, d('2026-10-24T23:00:00Z'), 4)), [
        '2026-10-24T23:30:00.000Z', // 01:30 GMT+2
        '2026-10-25T00:30:00.000Z', // 02:30 GMT+2
        '2026-10-25T01:30:00.000Z', // 02:30 GMT+1
        '2026-10-25T02:30:00.000Z', // 03:30 GMT+1
      ]);
      assert.deepEqual(isos(upcomingFires(hourly, d('2026-03-29T00:00:00Z'), 3)), [
        '2026-03-29T00:30:00.000Z', // 01:30 GMT+1
        '2026-03-29T01:30:00.000Z', // 03:30 GMT+2
        '2026-03-29T02:30:00.000Z', // 04:30 GMT+2
      ]);
    });
  });
});

describe('upcomingFires', () => {
  it('lists up to `count` fire times strictly after `after`, in order', () => {
    assert.deepEqual(isos(upcomingFires(timing({ cronExpression: '0 9 * * 1-5' }), d('2026-05-01T09:00:00Z'), 3)), [
      '2026-05-04T09:00:00.000Z',
      '2026-05-05T09:00:00.000Z',
      '2026-05-06T09:00:00.000Z',
    ]);
  });

  it('stops at endedAt', () => {
    const s = timing({ endedAt: d('2026-05-03T09:00:00Z') });
    assert.deepEqual(isos(upcomingFires(s, d('2026-05-01T00:00:00Z'), 10)), [
      '2026-05-01T09:00:00.000Z',
      '2026-05-02T09:00:00.000Z',
      '2026-05-03T09:00:00.000Z',
    ]);
  });

  it('is empty for a count of 0, a disabled schedule or one that never fires', () => {
    assert.deepEqual(upcomingFires(timing(), d('2026-05-01T00:00:00Z'), 0), []);
    assert.deepEqual(upcomingFires(timing({ enabled: false }), d('2026-05-01T00:00:00Z'), 5), []);
    assert.deepEqual(upcomingFires(timing({ cronExpression: '0 0 30 2 *' }), d('2026-05-01T00:00:00Z'), 5), []);
  });
});

describe('the other kinds', () => {
  const oneOff = (at: string, overrides: Partial<Timing> = {}) => timing({ cronExpression: null, fireAt: d(at), ...overrides });
  const every = (seconds: number, anchor: string, overrides: Partial<Timing> = {}) =>
    timing({ cronExpression: null, everySeconds: seconds, anchorAt: d(anchor), ...overrides });

  it('fires a one-off once, at its instant, and never after', () => {
    assert.deepEqual(isos(upcomingFires(oneOff('2026-05-01T10:00:00Z'), d('2026-05-01T00:00:00Z'), 5)), ['2026-05-01T10:00:00.000Z']);
    assert.equal(nextFireAfter(oneOff('2026-05-01T10:00:00Z'), d('2026-05-01T10:00:00Z')), null);
    // Inside the activation window only.
    assert.equal(nextFireAfter(oneOff('2026-05-01T10:00:00Z', { endedAt: d('2026-05-01T09:00:00Z') }), d('2026-05-01T00:00:00Z')), null);
  });

  it('fires an interval at anchor + k × the interval, in real time across a DST change', () => {
    assert.deepEqual(isos(upcomingFires(every(5400, '2026-05-01T10:00:00Z'), d('2026-05-01T00:00:00Z'), 3)), [
      '2026-05-01T10:00:00.000Z',
      '2026-05-01T11:30:00.000Z',
      '2026-05-01T13:00:00.000Z',
    ]);
    assert.equal(nextFireAfter(every(5400, '2026-05-01T10:00:00Z'), d('2026-05-01T11:30:00Z'))?.toISOString(), '2026-05-01T13:00:00.000Z');
    // Berlin springs forward at 01:00 UTC on 2026-03-29: an hourly interval keeps 3 600 s between fires.
    const fires = upcomingFires(every(3600, '2026-03-28T22:30:00Z', { timezone: 'Europe/Berlin' }), d('2026-03-28T22:00:00Z'), 5);
    for (let i = 1; i < fires.length; i++) assert.equal(fires[i].getTime() - fires[i - 1].getTime(), 3_600_000);
  });

  it("moves every fire time by the schedule's own jitter: the same each time, below jitter_seconds", () => {
    const jittered = timing({ id: 'schedule-a', cronExpression: '0 9 * * *', jitterSeconds: 600 });
    const [first, second] = upcomingFires(jittered, d('2026-05-01T00:00:00Z'), 2);
    const offset = first.getTime() - d('2026-05-01T09:00:00Z').getTime();
    assert.ok(offset >= 0 && offset < 600_000, String(offset));
    assert.equal(second.getTime() - d('2026-05-02T09:00:00Z').getTime(), offset);
    // What next-runs lists is what fires: asked from just before a jittered time, that time comes next.
    assert.equal(nextFireAfter(jittered, new Date(first.getTime() - 1))?.getTime(), first.getTime());
    assert.equal(nextFireAfter(timing({ id: 'schedule-b', jitterSeconds: 600 }), d('2026-05-01T00:00:00Z'))?.getTime() === first.getTime(), false);
  });

  it('spreads 10 000 schedules on 0 9 * * * with 600 s of jitter so that no second holds more than twice the average', () => {
    const perSecond = new Map<number, number>();
    for (let i = 0; i < 10_000; i++) {
      // Ids as the service makes them (UUID v7), fixed here so that the check is the same on every run.
      const id = `01900000-0000-7000-8000-${i.toString(16).padStart(12, '0')}`;
      const at = nextFireAfter(timing({ id, jitterSeconds: 600 }), d('2026-05-01T00:00:00Z'))!;
      const second = Math.floor(at.getTime() / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    }
    const average = 10_000 / 600;
    const busiest = Math.max(...perSecond.values());
    assert.ok(busiest <= 2 * average, `busiest second: ${busiest}, average ${average.toFixed(1)}`);
    assert.equal(perSecond.size, 600);
  });
});

describe("Vixie cron's rule across every clock change of every zone (an oracle of its own)", () => {
  // Fixed-time jobs (neither minute nor hour starts with `*`): a time in a gap fires once, at the
  // first instant after it; a repeated time fires once, at its first occurrence. Wall-clock jobs:
  // gap times do not fire, repeated times fire again.
  const EXPRESSIONS = [
    '30 1-3 * * *',
    '15,45 1-3 * * *',
    '0 1,2,3 * * *',
    '30 2 * * *',
    '0 0 * * *',
    '30 23 * * *',
    '0 * * * *',
    '*/20 * * * *',
    '*/15 1-3 * * *',
    '0 30 2 * * *',
    '0 */30 * * * *',
  ];
  // Wide enough for the largest change in these years (Antarctica/Troll's two hours) and the fire
  // times either side of it.
  const WINDOW = 3 * 3600_000;

  it('agrees with the oracle three hours either side of each change in 2026 and 2027, in every zone', () => {
    const from = Date.UTC(2026, 0, 1);
    const to = Date.UTC(2028, 0, 1);
    const disagreements: string[] = [];
    let changesChecked = 0;
    for (const zone of Intl.supportedValuesOf('timeZone')) {
      // Zones whose offset is the same on the 1st and 15th of every month have no change to check
      // (the shortest change-and-back, Morocco's Ramadan hour, lasts about a month).
      const samples = Array.from({ length: 49 }, (_, i) => Date.UTC(2026, Math.floor(i / 2), i % 2 === 0 ? 1 : 15));
      const offsets = new Set(samples.map((ms) => localOrdinal(zone, ms) - ms));
      if (offsets.size === 1) continue;
      for (const change of offsetChanges(zone, from, to)) {
        changesChecked++;
        const start = change - WINDOW;
        const minutes = minutesOf(zone, start, change + WINDOW);
        for (const expression of EXPRESSIONS) {
          const expected = oracleFires(expression, minutes);
          const actual: number[] = [];
          for (let at = nextCronTime(expression, zone, new Date(start)); at && at.getTime() <= change + WINDOW; at = nextCronTime(expression, zone, at)) {
            actual.push(at.getTime());
          }
          if (actual.join() !== expected.join()) {
            const show = (list: number[]) => list.map((ms) => new Date(ms).toISOString().slice(5, 16)).join(' ');
            disagreements.push(`${zone} ${new Date(change).toISOString()} "${expression}": expected ${show(expected)}; got ${show(actual)}`);
          }
        }
      }
    }
    assert.ok(changesChecked > 200, `only ${changesChecked} clock changes found`);
    assert.deepEqual(disagreements.slice(0, 10), [], `${disagreements.length} disagreements`);
  });
});
