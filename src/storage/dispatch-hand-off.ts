import { randomUUID } from 'node:crypto';
import type { ClaimedDelivery } from '../domain/delivery.js';

/** This process's dispatcher, as the storage sees it (see DispatchHandOff.attach). */
export interface LocalDispatcher {
  /** How many more deliveries it would take now (to send at once, or within its lease). */
  room(): number;
  /** Until when a delivery handed to it at `now` is leased to it (as its own claims lease them). */
  leaseUntil(now: Date): Date;
  /** Deliveries leased to it by a transaction that has just committed: to send at once. */
  take(deliveries: ClaimedDelivery[]): void;
  /** Outbox entries became deliverable now: look for them. */
  wake(): void;
}

/** Room in the dispatcher held for one write (see DispatchHandOff.reserve). */
export interface HandOffReservation {
  /** How many of the write's deliveries the dispatcher takes: lease that many to it. */
  readonly count: number;
  /** The lease to write on them; null when `count` is 0. */
  readonly leaseUntil: Date | null;
  /** After the commit: hands over the deliveries leased (at most `count`), and frees the rest of the room. */
  settle(deliveries: ClaimedDelivery[]): void;
  /** The write did not happen: frees the room. */
  cancel(): void;
}

/**
 * How fires reach this process's dispatcher without waiting for it to look. A write that fires
 * reserves room in the dispatcher, leases that many of its outbox entries to it in the same
 * transaction, and hands them over once it has committed, as written (nothing is read back).
 * Entries it cannot take are written deliverable, and the dispatchers are woken: this one at once
 * (ready()), the other replicas through the database (PostgreSQL NOTIFY in the writing
 * transaction; `instanceId` lets this process ignore its own). One per storage backend; a
 * dispatcher that dies after the commit leaves its leased entries to others once the lease ends.
 */
export class DispatchHandOff {
  /** Tells this process's notifications from other replicas'. */
  readonly instanceId = randomUUID();
  private dispatcher: LocalDispatcher | null = null;
  /** Room reserved by writes in progress. */
  private reserved = 0;

  /** The dispatcher of this process, until the returned function is called. */
  attach(dispatcher: LocalDispatcher): () => void {
    this.dispatcher = dispatcher;
    return () => {
      if (this.dispatcher === dispatcher) this.dispatcher = null;
    };
  }

  /** Holds up to `wanted` of the dispatcher's room (none without one) for a write at `now`. */
  reserve(wanted: number, now: Date): HandOffReservation {
    const dispatcher = this.dispatcher;
    const count = dispatcher ? Math.max(0, Math.min(wanted, dispatcher.room() - this.reserved)) : 0;
    if (count === 0) return NO_RESERVATION;
    this.reserved += count;
    let open = true;
    const close = () => {
      if (open) this.reserved -= count;
      const wasOpen = open;
      open = false;
      return wasOpen;
    };
    return {
      count,
      leaseUntil: dispatcher!.leaseUntil(now),
      settle: (deliveries) => {
        if (close() && deliveries.length > 0) dispatcher!.take(deliveries.slice(0, count));
      },
      cancel: () => void close(),
    };
  }

  /** Outbox entries became deliverable now (a write that made them has committed): wakes the dispatcher. */
  ready(): void {
    this.dispatcher?.wake();
  }
}

const NO_RESERVATION: HandOffReservation = { count: 0, leaseUntil: null, settle: () => undefined, cancel: () => undefined };
