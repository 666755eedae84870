/**
 * Offline decoding of a raw PBX capture (the bytes of an AMI or ESL socket) into signals,
 * through the same framer and translator the live connection uses. `callhook simulate`
 * and the tests use it. When the capture has a sidecar with per-recv() times (the
 * `.json` / `.ts.json` files next to the shared captures), those times are the receive
 * times, so durations come out as recorded.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { PbxType, Signal } from '../calls/signals.js';
import { createDecoder } from './index.js';
import type { DecoderOptions } from './types.js';

export { createDecoder } from './index.js';

export interface CaptureChunk {
  t: number;
  offset: number;
  len: number;
}

/** Read a capture and, if present, its sidecar's recv() chunks. */
export function readCapture(file: string): { bytes: Buffer; chunks: CaptureChunk[] | null } {
  const bytes = readFileSync(file);
  for (const sidecar of sidecarNames(file)) {
    if (!existsSync(sidecar)) continue;
    try {
      const meta = JSON.parse(readFileSync(sidecar, 'utf8')) as { chunks?: RawChunk[] };
      if (Array.isArray(meta.chunks)) return { bytes, chunks: meta.chunks.map(normalizeChunk) };
    } catch {
      // a broken sidecar only costs the recorded timing
    }
  }
  return { bytes, chunks: null };
}

/** AMI sidecars say {t (s), offset, len}; ESL ones {epoch_ms, offset, length}. */
type RawChunk = { t?: number; epoch_ms?: number; offset: number; len?: number; length?: number };

function normalizeChunk(c: RawChunk): CaptureChunk {
  return { t: c.t ?? (c.epoch_ms ?? 0) / 1000, offset: c.offset, len: c.len ?? c.length ?? 0 };
}

function sidecarNames(file: string): string[] {
  const base = file.replace(/\.(ami|esl)$/, '');
  return [`${base}.json`, `${base}.ts.json`];
}

/** Decode a whole capture into signals, chunk by chunk as it was received. */
export async function decodeCapture(type: PbxType, file: string, opts: DecoderOptions = {}): Promise<Signal[]> {
  const { bytes, chunks } = readCapture(file);
  const decoder = await createDecoder(type, opts);
  const signals: Signal[] = [];
  const parts = chunks ?? [{ t: Date.now() / 1000, offset: 0, len: bytes.length }];
  for (const c of parts) {
    for (const s of decoder.push(bytes.subarray(c.offset, c.offset + c.len), Math.round(c.t * 1000))) signals.push(s);
  }
  return signals;
}
