/** Test helper: a pino logger writing JSON lines into an array, so tests can read the logs. */
import pino from 'pino';

export function memoryLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  return { logger, lines };
}
