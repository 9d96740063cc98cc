import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import type { DeliveryResult } from '../../../src/domain/delivery.js';
import { type DueFirePlan, type FireWrite, fireWrite } from '../../../src/domain/fire.js';
import type { DispatchAttempt, Run } from '../../../src/domain/run.js';
import type { Schedule } from '../../../src/domain/schedule.js';
import type { Message, Session } from '../../../src/domain/session.js';
import type { StorageBackend } from '../../../src/storage/storage-backend.js';
import { aSchedule } from '../../support/builders.js';
import { storedSession } from '../../support/stored-sessions.js';

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
/** `ms` after `base`. */
export const at = (base: number | Date, ms = 0) => new Date(+base + ms);

/** The bound on a stateful session's messages the contract's storage is opened with: small, so that tests reach it. */
export const CONTRACT_SESSION_MAX_MESSAGES = 10;
/** The bound on a stateful session's bytes of messages the contract's storage is opened with: a few large messages reach it. */
export const CONTRACT_SESSION_MAX_BYTES = 16_384;

/** Messages' size as the byte bound counts them in compact JSON (memory, SQLite): their JSON text in UTF-8. */
export const compactBytes = (messages: readonly Message[]) => messages.reduce((sum, m) => sum + Buffer.byteLength(JSON.stringify(m)), 0);

/** The same as PostgreSQL's jsonb prints them, a space after each ':' and ',' (its measure runs this much higher). */
export const jsonbBytes = (messages: readonly Message[]) => messages.reduce((sum, m) => sum + Buffer.byteLength(jsonbText(m)), 0);

function jsonbText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(jsonbText).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([key, v]) => `${JSON.stringify(key)}: ${jsonbText(v)}`).join(', ')}}`;
  }
  return JSON.stringify(value);
}

/**
 * That `context` is what the bounds keep of `appended` (oldest first): its newest messages, at
 * least the last; at most CONTRACT_SESSION_MAX_MESSAGES of them and, unless alone, at most
 * CONTRACT_SESSION_MAX_BYTES; and not far below the byte bound: the next older one would not have
 * fitted (measured as jsonb prints, so that every backend's cut passes).
 */
export function assertNewestWithinBounds(appended: readonly Message[], context: readonly Message[]): void {
  const kept = context.length;
  assert.ok(kept >= 1, 'the newest message is always kept');
  assert.deepEqual(context, appended.slice(-kept));
  assert.ok(kept <= CONTRACT_SESSION_MAX_MESSAGES, `${kept} messages kept`);
  if (kept > 1) assert.ok(compactBytes(context) <= CONTRACT_SESSION_MAX_BYTES, `${compactBytes(context)} bytes kept`);
  if (kept < appended.length && kept < CONTRACT_SESSION_MAX_MESSAGES) {
    const withNextOlder = appended.slice(-kept - 1);
    assert.ok(jsonbBytes(withNextOlder) > CONTRACT_SESSION_MAX_BYTES, `the next older would have fitted: ${jsonbBytes(withNextOlder)} bytes`);
  }
}

/** An agent's reply, as the runtime writes it into a session's context. */
export const reply = (text: string, id: string): Message => ({
  name: 'assistant',
  content: [{ type: 'text', text, id: `${id}-text` }],
  id,
  metadata: {},
  created_at: '2026-05-12T09:00:05.000Z',
  finished_at: '2026-05-12T09:00:09.000Z',
  usage: { input_tokens: 120, output_tokens: 40 },
});

export const anAttempt = (runId: string, when: Date, statusCode: number | null, error: string | null = null, durationMs = 25) =>
  ({ runId, at: when, statusCode, error, durationMs }) satisfies DispatchAttempt;

/**
 * What every part of the contract works with: the backend under test, and the steps many tests
 * take through it. Tests share one storage and keep apart by using their own user ids.
 */
export interface ContractContext {
  /** The backend under test; its ports are looked up when a test runs (the storage opens in beforeAll). */
  readonly storage: StorageBackend;
  /** A user id no other test uses. */
  newUser(): string;
  /**
   * Claims, deliveries and time-outs see every user's records. Each test that uses them works in
   * its own era of 30 days, each earlier than the one before, so that nothing an earlier test
   * wrote is due in it. (The rest of the suite writes after 2000, or at fixed instants of 1970
   * and before, which the eras, counting down from 1990, never reach.) Returns the era's start.
   */
  newEra(): number;
  /** The fire's session as stored afterwards (read back), and its run as the storage answered; fails the test if it did not fire. */
  fire(write: FireWrite): Promise<{ session: Session; run: Run }>;
  firedSession(write: FireWrite): Promise<Session>;
  /** A new schedule of a new user (unless `overrides` names one), stored. */
  created(overrides: Partial<Schedule>): Promise<Schedule>;
  /** A manual fire of `schedule` at `firedAt`, handed to the runtime; fails the test if it did not fire. */
  dispatchFire(schedule: Schedule, firedAt: Date): Promise<{ session: Session; run: Run }>;
  /** A manual fire handed to the runtime, as recordFire answers it. */
  tryDispatchFire(schedule: Schedule, firedAt: Date): ReturnType<StorageBackend['firing']['recordFire']>;
  /** What claimDeliveries gives at `now`, leased only until `now`, so that the next claim at `now` sees it again. */
  deliverable(now: Date): ReturnType<StorageBackend['delivery']['claimDeliveries']>;
  deliverableIds(now: Date): Promise<string[]>;
  /** The run as stored now. */
  runOf(run: Run): Promise<Run | undefined>;
  /** Records an attempt at `when`, made then, with its result. */
  recordAttempt(runId: string, when: Date, statusCode: number | null, result: DeliveryResult): Promise<void>;
  /** Claims the due schedules at `now` with dispatched cron fires, each next due an hour later; the plans go to `plans`. */
  claimDispatched(now: Date, plans?: DueFirePlan[]): ReturnType<StorageBackend['firing']['claimDueSchedules']>;
}

/** The context over the backend `opened` returns once it is open. */
export function contractContext(opened: () => StorageBackend): ContractContext {
  // Each port looked up when a test runs: the backend exists only once beforeAll has opened it.
  const storage: StorageBackend = {
    get schedules() {
      return opened().schedules;
    },
    get history() {
      return opened().history;
    },
    get firing() {
      return opened().firing;
    },
    get delivery() {
      return opened().delivery;
    },
    get idempotency() {
      return opened().idempotency;
    },
    get lifecycle() {
      return opened().lifecycle;
    },
    get handOff() {
      return opened().handOff;
    },
  };
  let era = Date.UTC(1990, 0, 1);
  const newUser = () => `user-${uuidv7()}`;
  const fire = async (write: FireWrite): Promise<{ session: Session; run: Run }> => {
    const outcome = await storage.firing.recordFire(write);
    if (outcome.status !== 'fired') assert.fail(`expected the fire to be written, got ${JSON.stringify(outcome)}`);
    assert.equal(outcome.sessionId, write.session.id);
    const schedule = { userId: write.session.userId, id: write.session.sourceScheduleId! };
    const session = await storedSession(storage.history, schedule, outcome.sessionId);
    if (!session) assert.fail(`the fire's session ${outcome.sessionId} is not among its schedule's`);
    return { session, run: outcome.run };
  };
  const deliverable = (now: Date) => storage.delivery.claimDeliveries(now, 1000, now);
  return {
    storage,
    newUser,
    newEra: () => (era -= 30 * DAY),
    fire,
    firedSession: async (write) => (await fire(write)).session,
    async created(overrides) {
      const schedule = aSchedule({ userId: newUser(), ...overrides });
      await storage.schedules.createSchedule(schedule);
      return schedule;
    },
    dispatchFire: (schedule, firedAt) => fire(fireWrite(schedule, firedAt, 'manual', firedAt, true)),
    tryDispatchFire: (schedule, firedAt) => storage.firing.recordFire(fireWrite(schedule, firedAt, 'manual', firedAt, true)),
    deliverable,
    deliverableIds: async (now) => (await deliverable(now)).map((d) => d.run.id),
    runOf: async (run) => (await storage.history.getRun(run.userId, run.scheduleId, run.id))?.run,
    recordAttempt: (runId, when, statusCode, result) =>
      storage.delivery.recordDeliveryAttempts([{ attempt: anAttempt(runId, when, statusCode), result }], when),
    claimDispatched: (now, plans = []) =>
      storage.firing.claimDueSchedules(now, 1000, (s) => {
        const plan: DueFirePlan = {
          scheduleId: s.id,
          fire: fireWrite(s, now, 'cron', s.nextRunAt!, true),
          unfired: [],
          nextRunAt: at(now, HOUR),
        };
        plans.push(plan);
        return plan;
      }),
  };
}
