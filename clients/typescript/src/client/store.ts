/**
 * The external store for `useSyncExternalStore`: an immutable snapshot, rebuilt only after a change, and
 * listeners told once per tick however many changes it had (a burst of 100 notifications: one call).
 */
import type { Listener } from "./types.js";

/** Throw `error` later, as an uncaught error, so a throwing listener cannot break the caller. */
export function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

export interface StoreOptions<S> {
  /** Builds a snapshot from the current state. */
  readonly build: () => S;
  /** Runs at the end of every tick that had a change or a `schedule()`, before the listeners are told. */
  readonly atEndOfTick?: () => void;
}

export class Store<S> {
  /** `subscribe` and `getSnapshot`, bound, for `useSyncExternalStore`. */
  readonly api: { readonly subscribe: (listener: Listener) => () => void; readonly getSnapshot: () => S };
  private readonly listeners = new Set<Listener>();
  private snapshot: S | undefined;
  private stale = true;
  private notifyPending = false;
  private tickQueued = false;

  constructor(private readonly options: StoreOptions<S>) {
    this.api = Object.freeze({
      subscribe: (listener: Listener) => {
        this.listeners.add(listener);
        return () => {
          this.listeners.delete(listener);
        };
      },
      getSnapshot: () => this.getSnapshot(),
    });
  }

  /** The current snapshot; the same object until something changes. */
  getSnapshot(): S {
    if (this.stale || this.snapshot === undefined) {
      this.stale = false;
      this.snapshot = this.options.build();
    }
    return this.snapshot;
  }

  /** The state changed: the next snapshot is rebuilt, and listeners are told at the end of the tick. */
  changed(): void {
    this.stale = true;
    this.notifyPending = true;
    this.schedule();
  }

  /** Make sure the end-of-tick pass runs (`atEndOfTick`, then the listeners if anything changed). */
  schedule(): void {
    if (this.tickQueued) return;
    this.tickQueued = true;
    queueMicrotask(() => {
      this.tickQueued = false;
      this.options.atEndOfTick?.();
      if (!this.notifyPending) return;
      this.notifyPending = false;
      for (const listener of [...this.listeners]) {
        try {
          listener();
        } catch (error) {
          rethrowLater(error);
        }
      }
    });
  }
}
