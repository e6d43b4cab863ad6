// Types of scripts/gen.mjs, for the test that checks the generated files are not stale.
export declare const packageRoot: string;
export declare const outputs: { events: string; notifications: string; protocol: string; messages: string };
export declare const NOT_NOTIFICATIONS: string[];
export declare function ardaBin(): string;
export declare function renderEvents(schema: unknown): Promise<string>;
export declare function renderNotifications(schema: unknown): string;
export declare function renderProtocol(protocol: unknown): string;
export declare function renderMessages(protocol: unknown): Promise<string>;
export declare function generate(): Promise<Record<string, string>>;
export declare function staleFiles(): Promise<string[]>;
