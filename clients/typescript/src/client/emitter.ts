/** Typed events: `on` returns the function that stops listening; a throwing handler never breaks `emit`. */
import { rethrowLater } from "./store.js";

type Handler = (...args: never[]) => void;

export class Emitter<Events extends { [K in keyof Events]: Handler }> {
  private readonly handlers = new Map<keyof Events, Set<Handler>>();

  on<K extends keyof Events>(event: K, handler: Events[K]): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    for (const handler of [...(this.handlers.get(event) ?? [])]) {
      try {
        (handler as (...a: Parameters<Events[K]>) => void)(...args);
      } catch (error) {
        rethrowLater(error); // surfaced as an uncaught error, without breaking the client
      }
    }
  }
}
