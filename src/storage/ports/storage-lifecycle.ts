/** The storage as a whole: whether it can serve (the readiness check), and its end. */
export abstract class StorageLifecycle {
  /**
   * Resolves when the storage answers, its schema is all there (every table, every migration
   * applied) and it takes writes; rejects otherwise, with StorageUnavailable where the database is
   * the trouble.
   */
  abstract ping(): Promise<void>;

  /**
   * Releases connections; the storage is unusable afterwards. (In the service the TypeORM module
   * closes its connection on shutdown; tests and the bench close what they open themselves.)
   */
  abstract close(): Promise<void>;
}
