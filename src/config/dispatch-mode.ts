/**
 * Whether fires are handed to the agent runtime (DISPATCH_URL is set) or only recorded. Every
 * place that writes a fire asks this, so that a fire is dispatched the same way whoever fires it.
 */
export class DispatchMode {
  constructor(readonly dispatching: boolean) {}
}
