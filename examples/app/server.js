// Example app for pushdeploy's monitor, in Node: the same LISTEN_FDS handling as app.py.
// Serves every fd passed by systemd's protocol (or the monitor), else 127.0.0.1:$PORT.
// GET / -> "<VERSION> <pid>", GET /health -> "ok"; on SIGTERM it stops accepting, answers
// in-flight requests with "Connection: close", and exits once idle connections are closed.
"use strict";
const fs = require("fs");
const http = require("http");

let version = "unknown";
try { version = fs.readFileSync("VERSION", "utf8").trim(); } catch {}
let draining = false;

function handler(req, res) {
  if (draining) res.setHeader("Connection", "close");
  if (req.url === "/health") return res.end("ok\n");
  if (req.url === "/") return res.end(`${version} ${process.pid}\n`);
  res.statusCode = 404;
  res.end("not found\n");
}

// The few lines an app needs: LISTEN_PID must be us; fds start at 3.
const count = process.env.LISTEN_PID === String(process.pid) ? Number(process.env.LISTEN_FDS) : 0;
const servers = [];
for (let fd = 3; fd < 3 + count; fd++) servers.push(http.createServer(handler).listen({ fd }));
if (count === 0) {
  servers.push(http.createServer(handler).listen(Number(process.env.PORT || 8000), "127.0.0.1"));
}

// Drain: for a second every answer says "Connection: close" (kept-alive clients move on to the
// new workers without a race), then close(): stop accepting, drop what is idle, exit when done.
process.on("SIGTERM", () => {
  draining = true;
  setTimeout(() => servers.forEach((server) => server.close()), 1000);
});
