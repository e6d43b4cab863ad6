// Benchmark peer publisher: emits notifications to Socket.IO rooms through Redis with
// @socket.io/redis-emitter, the way a separate backend service would.
//
//   REDIS_URL=redis://127.0.0.1:6379 node emitter.mjs < lines.jsonl
//
// Input: JSON lines on stdin.
//   {"room":"tenant:t0","event":"notification","data":{...}}  -> emitter.to(room).emit(event, data)
//   {"flush":N}  -> writes "flushed N\n" to stdout once every earlier line has reached Redis
// Exits 0 at the end of stdin, after everything has been handed to Redis.

import { createInterface } from "node:readline";

import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

const redisClient = createClient({ url: REDIS_URL });
redisClient.on("error", (err) => console.error("redis client error:", err.message));
await redisClient.connect();

const emitter = new Emitter(redisClient);

// node-redis sends the commands of one connection in order and answers them in order, so
// once a PING issued after some PUBLISHes has its reply, those PUBLISHes have been executed.
function handleLine(line) {
  if (line.length === 0) return;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    console.error("emitter: ignoring a line that is not JSON");
    return;
  }
  if (msg === null || typeof msg !== "object") return;
  if ("flush" in msg) {
    const n = msg.flush;
    redisClient.ping().then(
      () => process.stdout.write(`flushed ${n}\n`),
      (err) => console.error("emitter: flush failed:", err.message),
    );
    return;
  }
  emitter.to(msg.room).emit(msg.event, msg.data);
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", handleLine);
rl.on("close", async () => {
  try {
    await redisClient.ping(); // everything before has been executed by Redis
    await redisClient.quit();
  } catch (err) {
    console.error("emitter: error at end of input:", err.message);
    process.exitCode = 1;
  }
});
