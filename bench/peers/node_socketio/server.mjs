// Benchmark peer: a Socket.IO v4 notification server scaled out with @socket.io/redis-adapter.
//
//   PORT=3000 REDIS_URL=redis://127.0.0.1:6379 JWT_SECRET=... node server.mjs
//
// Clients authenticate with an HS256 JWT in the handshake (`auth: { token }`), then emit
// `subscribe` with `{ tenantId }` to join the room `tenant:<tenantId>`. Notifications are
// published from other processes with @socket.io/redis-emitter (see emitter.mjs) and reach
// clients as the `notification` event.

import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

const PORT = Number.parseInt(process.env.PORT ?? "3000", 10);
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const JWT_SECRET = process.env.JWT_SECRET;

if (!JWT_SECRET) {
  console.error("JWT_SECRET is required");
  process.exit(2);
}

const jwtKey = Buffer.from(JWT_SECRET, "utf8");

function decodeSegment(segment) {
  return JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
}

// Verifies an HS256 JWT and returns its claims, or null.
function verifyJwt(token) {
  if (typeof token !== "string") return null;
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  const [headerB64, payloadB64, signatureB64] = parts;

  let header;
  let claims;
  try {
    header = decodeSegment(headerB64);
    claims = decodeSegment(payloadB64);
  } catch {
    return null;
  }
  if (header === null || typeof header !== "object" || header.alg !== "HS256") return null;

  const expected = createHmac("sha256", jwtKey).update(`${headerB64}.${payloadB64}`).digest();
  const actual = Buffer.from(signatureB64, "base64url");
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return null;

  if (claims === null || typeof claims !== "object") return null;
  if (typeof claims.exp !== "number" || claims.exp <= Date.now() / 1000) return null;
  return claims;
}

const httpServer = createServer((req, res) => {
  if (req.method === "GET" && req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok\n");
    return;
  }
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found\n");
});

const pubClient = createClient({ url: REDIS_URL });
const subClient = pubClient.duplicate();
pubClient.on("error", (err) => console.error("redis pub client error:", err.message));
subClient.on("error", (err) => console.error("redis sub client error:", err.message));

await Promise.all([pubClient.connect(), subClient.connect()]);

const io = new Server(httpServer, {
  path: "/socket.io/",
  transports: ["websocket"],
  perMessageDeflate: false,
  cors: { origin: "*" },
  adapter: createAdapter(pubClient, subClient),
});

io.use((socket, next) => {
  const claims = verifyJwt(socket.handshake.auth?.token);
  if (!claims || !Array.isArray(claims.tenants)) {
    next(new Error("unauthorized"));
    return;
  }
  socket.data.sub = claims.sub;
  socket.data.tenants = claims.tenants;
  next();
});

io.on("connection", (socket) => {
  socket.on("subscribe", (payload, ack) => {
    if (typeof ack !== "function") return;
    const tenantId = payload?.tenantId;
    if (typeof tenantId === "string" && socket.data.tenants.includes(tenantId)) {
      socket.join(`tenant:${tenantId}`);
      ack({ ok: true });
    } else {
      ack({ ok: false, error: "forbidden" });
    }
  });
});

httpServer.listen(PORT, () => {
  console.log(`listening ${PORT}`);
});

let shuttingDown = false;

async function shutdown() {
  if (shuttingDown) return;
  shuttingDown = true;
  // Do not hang forever on a stuck connection.
  setTimeout(() => process.exit(0), 5000).unref();
  try {
    await io.close(); // disconnects every client and closes the HTTP server
    await Promise.allSettled([pubClient.quit(), subClient.quit()]);
  } catch (err) {
    console.error("shutdown error:", err.message);
  }
  process.exit(0);
}

process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
