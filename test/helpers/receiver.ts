/**
 * A real HTTP receiver on 127.0.0.1 for tests: records every request (method, url,
 * lower-cased headers, body, arrival time) and answers with a replaceable handler
 * (default 200 "ok"). Reused by the delivery, daemon and demo tests.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Date.now() when the body was complete */
  at: number;
  /** the connection it came on (whose sender it was: each daemon process has its own) */
  socket: Socket;
}

/** answers one request; may be async (e.g. to answer slowly) */
export type ReceiverHandler = (req: ReceivedRequest, res: ServerResponse) => void | Promise<void>;

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  setHandler(handler: ReceiverHandler): void;
  close(): Promise<void>;
}

const defaultHandler: ReceiverHandler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
};

/** starts a receiver on 127.0.0.1 (port 0 = any free port) */
export async function startReceiver(handler: ReceiverHandler = defaultHandler, port = 0): Promise<Receiver> {
  let current = handler;
  const requests: ReceivedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
        socket: req.socket,
      };
      requests.push(r);
      Promise.resolve(current(r, res)).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(err));
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    requests,
    setHandler(h) {
      current = h;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
