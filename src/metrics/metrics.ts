import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DeliveryResult } from '../domain/delivery.js';
import type { ClaimOutcome, DueFirePlan } from '../domain/fire.js';
import type { ScheduleEventType } from '../domain/schedule-event.js';
import { STORED_PAUSE_REASONS, type StoredPauseReason } from '../domain/schedule.js';
import { RUN_TRIGGERS, type RunStatus, type RunTrigger, SKIP_REASONS, type SkipReason } from '../domain/run.js';

/** The route label of requests that matched no route: random paths must not each make a series. */
export const UNMATCHED_ROUTE = 'unmatched';

const FIRE_LAG_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Node's process metrics, collected once per process: they describe the process, not an app, and
 * prom-client cannot stop their collectors (a GC observer, an event-loop delay monitor), so one
 * set per app would pile up in a process that starts many apps, as the tests do.
 */
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
    // Gauges named like counters, which promtool's lint rejects; nodejs_active_handles and the
    // others without the suffix, by type, say the same.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      processRegistry.removeSingleMetric(name);
    }
  }
  return processRegistry;
}

/** The outcomes of a webhook attempt (DeliveryResult's). */
const DELIVERY_OUTCOMES: ReadonlyArray<DeliveryResult['outcome']> = ['delivered', 'completed', 'retry', 'gave-up'];

function instruments(registry: Registry) {
  const registers = [registry];
  const recorded = {
    httpRequestDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help:
        'HTTP requests by route template (`unmatched` for requests no route matched), method and status code: ' +
        'the time from receiving the request to sending the response. GET /metrics itself is not counted.',
      labelNames: ['route', 'method', 'status_code'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    fires: new Counter({
      name: 'schedule_fires_total',
      help:
        'Runs written for fire times, by trigger (cron, catchup, manual) and by the status they were written with: ' +
        'succeeded (record-only mode), pending (handed to the runtime: the overlap policy may still have held it ' +
        'waiting or recorded it as skipped; see the run), failed (the fire could not be planned or written), ' +
        'missed (beyond the catch-up window), skipped (the overlap policy or the budget skipped it: see ' +
        'schedule_skips_total; a manual one writes nothing).',
      labelNames: ['trigger', 'status'] as const,
      registers,
    }),
    skips: new Counter({
      name: 'schedule_skips_total',
      help:
        'Fire times that did not fire, by trigger and skip_reason: overlap (a run of the schedule was still active) or ' +
        "budget_exhausted (the schedule's budget period had reached a limit). Cron and catch-up ones are recorded as " +
        'skipped runs; manual ones are refused with 409 and write nothing.',
      labelNames: ['trigger', 'skip_reason'] as const,
      registers,
    }),
    pauses: new Counter({
      name: 'schedule_pauses_total',
      help:
        'Schedules that stopped firing, by reason: user (a PATCH disabled it), consecutive_failures (its failure policy), ' +
        'max_runs_reached (done after max_runs fires). The policy ones are counted as their schedule.paused and ' +
        'schedule.completed events are first sent (so only where dispatch is configured), once across replicas.',
      labelNames: ['reason'] as const,
      registers,
    }),
    scheduleEvents: new Counter({
      name: 'schedule_event_attempts_total',
      help: 'Attempts at delivering schedule events to EVENTS_URL, by event type and outcome (delivered: a 2xx; failed: anything else).',
      labelNames: ['type', 'outcome'] as const,
      registers,
    }),
    fireLag: new Histogram({
      name: 'schedule_fire_lag_seconds',
      help: 'For each cron or catch-up fire the ticker wrote: fired_at - scheduled_for.',
      buckets: FIRE_LAG_BUCKETS,
      registers,
    }),
    dueBacklog: new Gauge({
      name: 'schedule_due_backlog',
      help: "Schedules due and not yet claimed, as this replica's ticker saw at the end of its last tick.",
      registers,
    }),
    claimBatchDuration: new Histogram({
      name: 'schedule_claim_batch_duration_seconds',
      help: 'How long each batch claim of due schedules took (the claim and the writes of its fires), failed ones included.',
      buckets: DURATION_BUCKETS,
      registers,
    }),
    dispatchAttempts: new Counter({
      name: 'dispatch_attempts_total',
      help:
        'Webhook attempts to the agent runtime, by outcome: delivered, completed (the answer carried the final ' +
        'status of the run), retry (a transient failure, tried again later), gave-up (the run failed).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    deliveryLag: new Histogram({
      name: 'dispatch_delivery_lag_seconds',
      help:
        "For each run's first webhook attempt: when it was sent - the run's scheduled_for (its cron time, or when a " +
        'manual run was asked for). How late the agent runtime hears of a fire; retries are not counted.',
      buckets: FIRE_LAG_BUCKETS,
      registers,
    }),
    outboxBacklog: new Gauge({
      name: 'dispatch_outbox_pending',
      help:
        "Outbox entries deliverable and not being delivered (no dispatcher has taken them), as this replica's dispatcher " +
        'saw at its last poll. Held runs (buffer_one) and retries not yet due are not counted.',
      registers,
    }),
    deliveryDuration: new Histogram({
      name: 'dispatch_delivery_duration_seconds',
      help: 'How long each webhook attempt took, from sending the request to its answer, failure or timeout.',
      buckets: DURATION_BUCKETS,
      registers,
    }),
  };
  // The series the alerts watch for failures start at 0: prom-client makes a labelled series at
  // its first increment, which a rate() over it would not see as a rise.
  for (const outcome of DELIVERY_OUTCOMES) recorded.dispatchAttempts.inc({ outcome }, 0);
  for (const trigger of RUN_TRIGGERS) {
    recorded.fires.inc({ trigger, status: 'failed' }, 0);
    for (const skip_reason of SKIP_REASONS) recorded.skips.inc({ trigger, skip_reason }, 0);
  }
  for (const reason of STORED_PAUSE_REASONS) recorded.pauses.inc({ reason }, 0);
  return recorded;
}

/**
 * What the service measures, for GET /metrics (Prometheus). Each app has a registry of its own,
 * never prom-client's global one, so that several apps in one process count apart.
 */
export class Metrics {
  /** Records nothing: METRICS_ENABLED=false, and the services unit specs build by hand. */
  static readonly none = new Metrics(false);

  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;
  private readonly registry = new Registry();
  private readonly recorded: ReturnType<typeof instruments> | null;

  constructor(readonly enabled: boolean) {
    this.recorded = enabled ? instruments(this.registry) : null;
  }

  /** The Prometheus text exposition: the process's metrics, then the app's. */
  async exposition(): Promise<string> {
    if (!this.enabled) return '';
    return (await processMetrics().metrics()) + (await this.registry.metrics());
  }

  observeHttpRequest(route: string, method: string, statusCode: number, seconds: number): void {
    this.recorded?.httpRequestDuration.observe({ route, method, status_code: String(statusCode) }, seconds);
  }

  /** Starts timing a claim of due schedules; call the result when it ends. */
  startClaimTimer(): () => void {
    const end = this.recorded?.claimBatchDuration.startTimer();
    return () => void end?.();
  }

  /**
   * One claim's fires, from what the ticker planned for each claimed schedule and what the
   * storage says became of it: a `fired` plan was written as planned; a `failed` one had its
   * fire written as a failed run instead, and its unfired runs as planned.
   */
  recordClaims(outcomes: readonly ClaimOutcome[], plans: ReadonlyMap<string, DueFirePlan>): void {
    if (!this.recorded) return;
    for (const outcome of outcomes) {
      const plan = plans.get(outcome.scheduleId);
      if (!plan) continue;
      for (const run of plan.unfired) this.recordFire(run.trigger, run.status);
      if (!plan.fire) continue;
      const { run, firedAt } = plan.fire;
      if (outcome.status === 'failed') {
        this.recordFire(run.trigger, 'failed');
      } else if (outcome.skipReason) {
        this.recordFire(run.trigger, 'skipped');
        this.recordSkip(run.trigger, outcome.skipReason);
      } else {
        this.recordFire(run.trigger, run.status);
        this.recorded.fireLag.observe((firedAt.getTime() - run.scheduledFor.getTime()) / 1000);
      }
    }
  }

  recordFire(trigger: RunTrigger, status: RunStatus): void {
    this.recorded?.fires.inc({ trigger, status });
  }

  /** A fire time that did not fire, for the overlap policy or the budget (see schedule_skips_total). */
  recordSkip(trigger: RunTrigger, skipReason: SkipReason): void {
    this.recorded?.skips.inc({ trigger, skip_reason: skipReason });
  }

  /** A schedule stopped firing (see schedule_pauses_total). */
  recordPause(reason: StoredPauseReason): void {
    this.recorded?.pauses.inc({ reason });
  }

  /** An attempt at a schedule event; its first attempt counts the pause it tells of. */
  recordScheduleEvent(type: ScheduleEventType, attemptsMade: number, delivered: boolean): void {
    this.recorded?.scheduleEvents.inc({ type, outcome: delivered ? 'delivered' : 'failed' });
    if (attemptsMade > 0) return;
    if (type === 'schedule.paused') this.recordPause('consecutive_failures');
    if (type === 'schedule.completed') this.recordPause('max_runs_reached');
  }

  setDueBacklog(count: number): void {
    this.recorded?.dueBacklog.set(count);
  }

  /** A run's first attempt was sent `lagMs` after its scheduled_for. */
  recordDeliveryLag(lagMs: number): void {
    this.recorded?.deliveryLag.observe(Math.max(0, lagMs) / 1000);
  }

  setOutboxBacklog(count: number): void {
    this.recorded?.outboxBacklog.set(count);
  }

  recordDeliveryAttempt(outcome: DeliveryResult['outcome'], durationMs: number): void {
    this.recorded?.dispatchAttempts.inc({ outcome });
    this.recorded?.deliveryDuration.observe(durationMs / 1000);
  }
}
