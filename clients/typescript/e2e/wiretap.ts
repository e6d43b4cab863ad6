/**
 * A TCP proxy in front of the service's WebSocket port that reads the WebSocket frames going through it, both
 * ways (RFC 6455 framing, after the HTTP upgrade): what each message cost on the wire, whether it was sent
 * compressed (RSV1, RFC 7692), and what it says once unmasked and inflated. The browser's DevTools only show
 * inflated payloads; this shows the bytes.
 */
import * as net from "node:net";
import * as zlib from "node:zlib";
import { defer, listenOnLoopback } from "../integration/harness.js";

export type Direction = "toServer" | "toClient";

/** One data message (text or binary), reassembled from its frames. */
export interface WireMessage {
  direction: Direction;
  opcode: number;
  /** RSV1 on its first frame: sent compressed. */
  compressed: boolean;
  /** Its frames' bytes on the wire, headers (and masking keys) included. */
  wireBytes: number;
  /** The payload as sent, after unmasking: compressed when `compressed`. */
  payloadBytes: number;
  /** The message's text (inflated when it was compressed). */
  text: string;
}

/** Raw deflate's empty stored block, which the sender removes from each compressed message (RFC 7692 §7.2.1). */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Reads one direction of one connection: the HTTP head, then frames. */
export class StreamReader {
  private buffer = Buffer.alloc(0);
  private inHead = true;
  private fragments: Buffer[] = [];
  private fragmentWire = 0;
  private first: { opcode: number; compressed: boolean } | null = null;
  /** The HTTP request or response that opened the connection (its head, up to the blank line). */
  head = "";
  /** Control frames seen (opcode 8–10). */
  controlFrames = 0;
  /** Bytes through this direction. */
  bytes = 0;

  constructor(
    private readonly direction: Direction,
    private readonly onMessage: (message: WireMessage) => void,
    private readonly onError: (error: Error) => void,
  ) {}

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.buffer = Buffer.concat([this.buffer, chunk]);
    try {
      this.drain();
    } catch (error) {
      this.onError(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private drain(): void {
    if (this.inHead) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      this.head = this.buffer.subarray(0, end).toString("latin1");
      this.buffer = this.buffer.subarray(end + 4);
      this.inHead = false;
    }
    for (;;) {
      if (this.buffer.length < 2) return;
      const b0 = this.buffer[0] as number;
      const b1 = this.buffer[1] as number;
      let length = b1 & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) return;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) return;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      const keyAt = offset;
      if (masked) offset += 4;
      if (this.buffer.length < offset + length) return;
      const payload = Buffer.from(this.buffer.subarray(offset, offset + length));
      if (masked) {
        for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (this.buffer[keyAt + (i % 4)] as number);
      }
      this.buffer = this.buffer.subarray(offset + length);
      this.frame(b0, payload, offset + length);
    }
  }

  private frame(b0: number, payload: Buffer, wireBytes: number): void {
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if (opcode >= 0x8) {
      this.controlFrames += 1;
      return;
    }
    if (opcode !== 0) {
      if (this.first) throw new Error(`${this.direction}: a new message (opcode ${opcode}) inside a fragmented one`);
      this.first = { opcode, compressed: (b0 & 0x40) !== 0 };
    } else if (!this.first) {
      throw new Error(`${this.direction}: a continuation frame outside a message`);
    }
    this.fragments.push(payload);
    this.fragmentWire += wireBytes;
    if (!fin) return;
    const { opcode: messageOpcode, compressed } = this.first as { opcode: number; compressed: boolean };
    const body = Buffer.concat(this.fragments);
    const wire = this.fragmentWire;
    this.fragments = [];
    this.fragmentWire = 0;
    this.first = null;
    // the message ends with a sync flush, not a final block: inflate up to there
    const plain = compressed ? zlib.inflateRawSync(Buffer.concat([body, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }) : body;
    this.onMessage({
      direction: this.direction,
      opcode: messageOpcode,
      compressed,
      wireBytes: wire,
      payloadBytes: body.length,
      text: plain.toString("utf8"),
    });
  }
}

/** One proxied connection: the upgrade's request and response heads, and byte counts each way. */
export interface TappedConnection {
  readonly toServer: StreamReader;
  readonly toClient: StreamReader;
}

/**
 * The proxy, on 127.0.0.1 and a free port, forwarding to `targetPort` unchanged (closed by the harness
 * cleanup). `messages` lists every data message of every connection in the order they were read.
 */
export class WireTap {
  readonly messages: WireMessage[] = [];
  readonly connections: TappedConnection[] = [];
  /** Framing the tap could not read (it would mean a broken stream): checked by the tests. */
  readonly errors: string[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    readonly targetPort: number,
  ) {}

  static async start(targetPort: number): Promise<WireTap> {
    const { server, port } = await listenOnLoopback();
    const tap = new WireTap(server, port, targetPort);
    server.on("connection", (socket) => tap.accept(socket));
    defer(`close wire tap :${port}`, () => tap.close());
    return tap;
  }

  /** The WebSocket URL through the tap. */
  wsUrl(pathname = "/ws"): string {
    return `ws://127.0.0.1:${this.port}${pathname}`;
  }

  /** The data messages of one direction whose text satisfies `match`. */
  find(direction: Direction, match: (text: string) => boolean): WireMessage[] {
    return this.messages.filter((m) => m.direction === direction && match(m.text));
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect({ port: this.targetPort, host: "127.0.0.1" });
    const record = (message: WireMessage): void => void this.messages.push(message);
    const fail = (error: Error): void => void this.errors.push(error.message);
    const connection: TappedConnection = {
      toServer: new StreamReader("toServer", record, fail),
      toClient: new StreamReader("toClient", record, fail),
    };
    this.connections.push(connection);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    client.on("data", (chunk: Buffer) => {
      connection.toServer.push(chunk);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      connection.toClient.push(chunk);
      client.write(chunk);
    });
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
