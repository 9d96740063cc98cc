/** Where a newest-first page ends: the last item's sort time and id. The next page starts after it. */
export interface KeysetPosition {
  at: Date;
  id: string;
}

/** A page of a newest-first list: `limit` items after `after` (from the start without it). */
export interface PageRequest {
  limit: number;
  after?: KeysetPosition;
}

export interface Page<T> {
  items: T[];
  /** How many items the whole list has. */
  total: number;
  /** Where the next page starts; null when this page is the last. */
  next: KeysetPosition | null;
}
