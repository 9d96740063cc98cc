import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { IllegalRunTransition, RunNotFound, SessionNotFound, ValidationFailed } from '../common/domain-errors.js';
import { isFinalRunStatus, type Run, type RunUsage, type RuntimeRunStatus } from '../domain/run.js';
import type { Session, SessionState } from '../domain/session.js';
import { DeliveryStorage } from '../storage/ports/delivery.storage.js';

/** What the agent runtime reports back: its runs' statuses and its sessions' states. Spans users. */
@Injectable()
export class RuntimeService {
  constructor(
    private readonly storage: DeliveryStorage,
    private readonly clock: Clock,
  ) {}

  /**
   * Applies a reported status (see runTransition), with the usage of a final one, and returns the
   * run as it is afterwards; the run's current status again changes nothing. IllegalRunTransition from a final status,
   * RunNotFound for an unknown run.
   */
  async reportRunStatus(runId: string, status: RuntimeRunStatus, error: string | null, usage: RunUsage | null = null): Promise<Run> {
    if (usage && !isFinalRunStatus(status)) {
      throw new ValidationFailed([{ field: 'usage', message: 'usage is reported with a final status (succeeded or failed)' }]);
    }
    const outcome = await this.storage.reportRunStatus(runId, status, error, this.clock.now(), usage);
    switch (outcome.status) {
      case 'applied':
      case 'unchanged':
        return outcome.run;
      case 'illegal':
        throw new IllegalRunTransition(runId, outcome.run.status, status);
      case 'not-found':
        throw new RunNotFound(runId);
    }
  }

  /** Replaces the session's state with `state`, which must name it; SessionNotFound when there is none. */
  async putSessionState(sessionId: string, state: SessionState): Promise<Session> {
    if (state.session_id !== sessionId) {
      throw new ValidationFailed([{ field: 'session_id', message: 'session_id must be the session_id of the path' }]);
    }
    const session = await this.storage.putSessionState(sessionId, state, this.clock.now());
    if (!session) throw new SessionNotFound(sessionId);
    return session;
  }
}
