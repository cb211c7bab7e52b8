#!/usr/bin/env node
// A reverse proxy in front of the server that refuses WebSockets, as some corporate proxies do:
//
//   node blocking-proxy.mjs TARGET_BASE_URL [--block-sse] [--refuse-after-ms N]
//
// Listens on a free loopback port (printed on stdout as `http://127.0.0.1:PORT`, one line) and
// forwards every HTTP request to TARGET_BASE_URL as it comes, streaming the answers (so
// Server-Sent Events pass), except:
// - a WebSocket upgrade is answered `403 Forbidden` and the connection closed (the socket
//   never opens), after N ms with --refuse-after-ms (a slow proxy: the page can act while its
//   socket is still opening);
// - with --block-sse, `POST /graphql/stream` is answered `502 Bad Gateway` as well.
// No dependencies: node's own http module.
import http from 'node:http';

const target = new URL(process.argv[2] ?? '');
const blockSse = process.argv.includes('--block-sse');
const refuseAt = process.argv.indexOf('--refuse-after-ms');
const refuseAfterMs = refuseAt > 0 ? Number(process.argv[refuseAt + 1]) : 0;

const server = http.createServer((request, response) => {
  if (blockSse && request.url?.startsWith('/graphql/stream')) {
    response.writeHead(502, { 'content-type': 'text/plain' });
    response.end('Server-Sent Events are blocked by the test proxy');
    request.resume();
    return;
  }
  const upstream = http.request(
    {
      host: target.hostname,
      port: target.port,
      method: request.method,
      path: request.url,
      headers: request.headers,
    },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    },
  );
  upstream.on('error', (error) => {
    if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
    response.end(`proxy: ${error.message}`);
  });
  // A client that goes away (the page closing an event stream) ends the upstream request too.
  response.on('close', () => upstream.destroy());
  request.pipe(upstream);
});

server.on('upgrade', (request, socket) => {
  setTimeout(() => {
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 36\r\nConnection: close\r\n\r\nWebSockets are blocked by the proxy.');
  }, refuseAfterMs);
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  console.log(`http://127.0.0.1:${port}`);
});
