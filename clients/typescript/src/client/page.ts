/** The page's lifecycle events the connection follows: online/offline, visibility, and the back/forward cache. */
import type { DocumentLike, WindowLike } from "../environment.js";

export interface PageHandlers {
  readonly online: () => void;
  readonly offline: () => void;
  readonly visibilityChange: () => void;
  /** Entering the back/forward cache (or unloading). */
  readonly pageHide: () => void;
  readonly pageShow: () => void;
}

export class PageWatcher {
  private attached = false;
  private readonly listeners: ReadonlyArray<readonly ["window" | "document", string, () => void]>;

  constructor(
    private readonly window: WindowLike | null,
    private readonly document: DocumentLike | null,
    handlers: PageHandlers,
  ) {
    this.listeners = [
      ["window", "online", handlers.online],
      ["window", "offline", handlers.offline],
      ["window", "pagehide", handlers.pageHide],
      ["window", "pageshow", handlers.pageShow],
      ["document", "visibilitychange", handlers.visibilityChange],
    ];
  }

  /** The browser says it is offline (`navigator.onLine === false`). */
  get offline(): boolean {
    return this.window?.navigator?.onLine === false;
  }

  get hidden(): boolean {
    return this.document?.visibilityState === "hidden";
  }

  attach(): void {
    if (this.attached) return;
    this.attached = true;
    for (const [target, type, listener] of this.listeners) this[target]?.addEventListener(type, listener);
  }

  detach(): void {
    if (!this.attached) return;
    this.attached = false;
    for (const [target, type, listener] of this.listeners) this[target]?.removeEventListener(type, listener);
  }
}
