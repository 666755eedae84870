/**
 * Loads the YAML config file: parses it keeping node positions, substitutes ${ENV} references,
 * reads *_file secrets, validates against the schema and reports every problem as
 * `FILE:LINE:COL: key.path: message`. Secret values never appear in a message: values from the
 * environment, secrets and headers are described by their type only.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, Node as YamlNode, Pair } from 'yaml';
import type { z } from 'zod';
import { closest } from '../util/closest.js';
import { configSchema, crossFieldProblems } from './schema.js';
import type { Path, PathProblem } from './schema.js';
import type { Config } from './types.js';

/** Thrown by loadConfig: every problem found, one `FILE:LINE:COL: message` per entry. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export type CheckResult = { ok: true; config: Config } | { ok: false; problems: string[] };

/** A rule that needs more than the schema (the hooks side's templates): raw file in, problems out. */
export type ConfigCheck = (raw: unknown) => PathProblem[];

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** further checks on the raw, env-substituted file, reported with the schema's problems */
  checks?: ConfigCheck[];
}

function readText(file: string): { text: string } | { problem: string } {
  try {
    return { text: readFileSync(file, 'utf8') };
  } catch (err) {
    return { problem: `${file}: cannot read config file (${errorCode(err)})` };
  }
}

/** Validates `file`; never throws. */
export function checkConfig(file: string, opts: LoadOptions = {}): CheckResult {
  const r = readText(file);
  return 'problem' in r ? { ok: false, problems: [r.problem] } : checkConfigText(r.text, file, opts);
}

/** Reads and validates `file`; throws ConfigError listing every problem. */
export function loadConfig(file: string, opts: LoadOptions = {}): Config {
  const result = checkConfig(file, opts);
  if (!result.ok) throw new ConfigError(result.problems);
  return result.config;
}

/** What the store commands (`deliveries`, `replay`) need: no secrets, no PBX. */
export interface StoreSettings {
  storagePath: string;
  /** the configured webhook names, for "no webhook named X" */
  webhooks: string[];
}

/**
 * Reads only `storage.path` and the webhook names from `file`. Environment variables that
 * are not set are no problem here (the secrets they hold are not needed); a broken
 * `storage` section or unreadable YAML still is.
 */
export function loadStoreSettings(file: string, env: NodeJS.ProcessEnv = process.env): StoreSettings {
  const r = readText(file);
  if ('problem' in r) throw new ConfigError([r.problem]);
  const parsed = parseYaml(r.text, file);
  if ('problems' in parsed) throw new ConfigError(parsed.problems);
  const { doc } = parsed;
  substituteEnv(doc.contents, [], env, [], new Set());
  const raw = (doc.toJS({ maxAliasCount: 1000 }) ?? {}) as Record<string, unknown>;
  const storage = configSchema.shape.storage.safeParse(raw.storage);
  if (!storage.success) {
    throw new ConfigError(storage.error.issues.map((i) => `${file}: storage${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`));
  }
  // webhooks and amqp sinks: one namespace of delivery targets
  const hooks = [raw.webhooks, raw.amqp].flatMap((list) => (Array.isArray(list) ? list : []));
  const webhooks = hooks.flatMap((w) => (typeof w === 'object' && w !== null && typeof (w as { name?: unknown }).name === 'string' ? [(w as { name: string }).name] : []));
  return { storagePath: storage.data.path, webhooks };
}

/**
 * Parses YAML keeping positions. On errors: one problem per line that has one (the first
 * error there), with the line and a caret under the column, so an indentation slip reads
 * as one message, not as the parser's follow-on complaints.
 */
function parseYaml(text: string, file: string): { doc: Document; at: (offset: number) => { line: number; col: number } } | { problems: string[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true });
  const at = (offset: number) => lineCounter.linePos(offset);
  if (doc.errors.length === 0) return { doc, at };
  const lines = text.split(/\r?\n/);
  const seen = new Set<number>();
  const problems: string[] = [];
  for (const e of doc.errors) {
    const pos = at(e.pos[0]);
    if (seen.has(pos.line)) continue;
    seen.add(pos.line);
    const source = lines[pos.line - 1] ?? '';
    const gutter = String(pos.line);
    problems.push(
      `${file}:${pos.line}:${pos.col}: YAML: ${e.message.split('\n')[0]}\n` +
        `  ${gutter} | ${source}\n  ${' '.repeat(gutter.length)} | ${' '.repeat(Math.max(0, pos.col - 1))}^`,
    );
  }
  return { problems };
}

/** Validates config text as if read from `file` (relative *_file paths resolve beside it). */
export function checkConfigText(text: string, file: string, opts: LoadOptions = {}): CheckResult {
  const env = opts.env ?? process.env;
  const parsedYaml = parseYaml(text, file);
  if ('problems' in parsedYaml) return { ok: false, problems: parsedYaml.problems };
  const { doc, at } = parsedYaml;
  const problems: Located[] = [];
  for (const w of doc.warnings) problems.push({ pos: at(w.pos[0]), text: `YAML: ${w.message.split('\n')[0]}` });

  const located = (p: PathProblem): Located => ({
    pos: at(offsetOf(doc, p.path, p.atKey ?? false)),
    text: p.path.length ? `${formatPath(p.path)}: ${p.message}` : p.message,
  });

  const envPaths = new Set<string>();
  const envProblems: PathProblem[] = [];
  substituteEnv(doc.contents, [], env, envProblems, envPaths);
  problems.push(...envProblems.map((p) => located(p)));
  // A value whose variable is missing is already reported; don't also call it empty or invalid.
  const envBroken = new Set(envProblems.map((p) => formatPath(p.path)));
  const fresh = (p: PathProblem) => !envBroken.has(formatPath(p.path));

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    problems.push({ pos: { line: 1, col: 1 }, text: `YAML: ${(err as Error).message}` });
    return { ok: false, problems: render(file, problems) };
  }
  if (raw === null || raw === undefined) raw = {};

  const fileProblems = readSecretFiles(raw, dirname(resolve(file)));
  problems.push(...fileProblems.map((p) => located(p)));

  const parsed = configSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      for (const p of issueProblems(issue, envPaths).filter(fresh)) problems.push(located(p));
    }
  }
  problems.push(...crossFieldProblems(raw).filter(fresh).map((p) => located(p)));
  for (const check of opts.checks ?? []) problems.push(...check(raw).filter(fresh).map((p) => located(p)));

  if (problems.length > 0 || !parsed.success) return { ok: false, problems: render(file, problems) };
  // amqp sinks travel the webhooks' path (routing, outbox, dispatcher): one list
  const { amqp, ...rest } = parsed.data;
  return { ok: true, config: { file: resolve(file), ...rest, webhooks: [...rest.webhooks, ...amqp] } };
}

// ---------------------------------------------------------------------------------------------
// Positions

interface Located { pos: { line: number; col: number }; text: string }

function render(file: string, problems: Located[]): string[] {
  const sorted = [...problems].sort((a, b) => a.pos.line - b.pos.line || a.pos.col - b.pos.col);
  return [...new Set(sorted.map((p) => `${file}:${p.pos.line}:${p.pos.col}: ${p.text}`))];
}

/** `webhooks[0].headers.Authorization` style, with ["odd key"] for keys that are not identifiers. */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

const resolveAlias = (doc: Document, node: unknown): unknown =>
  isAlias(node) ? node.resolve(doc) : node;

/**
 * Source offset for a key path: the value's start (or its key's, with atKey or when the value
 * is empty). Where the path leaves the document (a missing key), the enclosing node's start.
 */
function offsetOf(doc: Document, path: Path, atKey: boolean): number {
  let node: unknown = doc.contents;
  let pair: Pair | undefined;
  let fallback = 0;
  for (const seg of path) {
    node = resolveAlias(doc, node);
    const start = (node as YamlNode | null)?.range?.[0];
    if (start !== undefined) fallback = start;
    pair = undefined;
    if (isMap(node)) {
      pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(seg));
      if (!pair) return fallback;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
      node = node.items[seg];
    } else {
      return fallback;
    }
  }
  const keyStart = pair && isScalar(pair.key) ? pair.key.range?.[0] : undefined;
  const value = node as YamlNode | null;
  const valueEmpty = !value || (isScalar(value) && value.value === null && value.range?.[0] === value.range?.[1]);
  if (keyStart !== undefined && (atKey || valueEmpty)) return keyStart;
  return value?.range?.[0] ?? keyStart ?? fallback;
}

// ---------------------------------------------------------------------------------------------
// ${ENV} substitution

const ENV_REF = /\$\$\{|\$\{([^}]*)\}?/g;
const ENV_NAME = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/** Expands ${VAR} and ${VAR:-default} in every string value (not keys); `$${` is a literal `${`. */
function substituteEnv(node: unknown, path: Path, env: NodeJS.ProcessEnv, problems: PathProblem[], envPaths: Set<string>): void {
  if (isAlias(node)) return; // the anchored node is substituted where it is defined
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      substituteEnv(pair.value, [...path, key], env, problems, envPaths);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => substituteEnv(item, [...path, i], env, problems, envPaths));
  } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
    let substituted = false;
    const value = node.value.replace(ENV_REF, (whole, inner: string | undefined) => {
      if (whole === '$${') return '${';
      const m = whole.endsWith('}') && inner !== undefined ? ENV_NAME.exec(inner) : null;
      if (!m) {
        problems.push({ path, message: `malformed \${...} reference (expected \${NAME} or \${NAME:-default}; write $\${ for a literal \${)` });
        return '';
      }
      substituted = true;
      const [, name, fallback] = m;
      const set = env[name];
      if (set !== undefined && set !== '') return set;
      if (fallback !== undefined) return fallback;
      problems.push({ path, message: `environment variable ${name} is not set` });
      return '';
    });
    node.value = substituted ? coerce(value, path) : value;
    if (substituted) envPaths.add(formatPath(path));
  }
}

/** `port: ${AMI_PORT}` yields a string; where the schema wants a number or boolean, convert it. */
function coerce(value: string, path: Path): unknown {
  const type = schemaAt(path)?._zod.def.type;
  if (type === 'number' && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  if (type === 'boolean' && (value === 'true' || value === 'false')) return value === 'true';
  return value;
}

// ---------------------------------------------------------------------------------------------
// *_file secrets

const FILE_KEYS: Record<string, Record<string, string>> = {
  pbx: { secret_file: 'secret' },
  webhooks: { token_file: 'token', signing_secret_file: 'signing_secret' },
  amqp: { token_file: 'token', signing_secret_file: 'signing_secret' },
};

/** Replaces `secret_file: PATH` (and friends) by the trimmed file content under `secret`. */
function readSecretFiles(raw: unknown, baseDir: string): PathProblem[] {
  const problems: PathProblem[] = [];
  if (typeof raw !== 'object' || raw === null) return problems;
  for (const [section, keys] of Object.entries(FILE_KEYS)) {
    const list = (raw as Record<string, unknown>)[section];
    if (!Array.isArray(list)) continue;
    list.forEach((item: unknown, i) => {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) return;
      const obj = item as Record<string, unknown>;
      for (const [fileKey, target] of Object.entries(keys)) {
        const p = obj[fileKey];
        if (typeof p !== 'string' || p === '') continue; // the schema reports the wrong type
        delete obj[fileKey];
        const path: Path = [section, i, fileKey];
        if (obj[target] !== undefined) {
          problems.push({ path, atKey: true, message: `give either ${target} or ${fileKey}, not both` });
          continue;
        }
        const full = resolve(baseDir, p);
        try {
          const content = readFileSync(full, 'utf8').trim();
          if (content === '') problems.push({ path, message: `file "${full}" is empty` });
          obj[target] = content === '' ? 'unset' : content;
        } catch (err) {
          problems.push({ path, message: `cannot read "${full}" (${errorCode(err)})` });
          obj[target] = 'unreadable'; // keeps "secret: required" from being reported as well
        }
      }
    });
  }
  return problems;
}

function errorCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text: Record<string, string> = {
    ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'is a directory', EPERM: 'not permitted',
  };
  return e?.code ? `${e.code}: ${text[e.code] ?? 'error'}` : String(e?.message ?? err);
}

// ---------------------------------------------------------------------------------------------
// zod issues -> messages

type Issue = z.core.$ZodIssue & { input?: unknown };

const SECRET_KEYS = new Set(['secret', 'token', 'signing_secret', 'password']);

/** Whether the value at `path` may be echoed in a message. */
function mayShow(path: Path, envPaths: Set<string>): boolean {
  if (path.some((seg) => seg === 'headers' || (typeof seg === 'string' && SECRET_KEYS.has(seg)))) return false;
  return !envPaths.has(formatPath(path));
}

function describe(value: unknown, show: boolean): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (!show) return typeof value === 'string' ? 'a string' : `a ${typeof value}`;
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string', number: 'a number', int: 'a whole number', boolean: 'true or false',
  array: 'a list', object: 'a map', record: 'a map', null: 'null',
};

const isZodDefault = (message: string) => /^(Invalid|Too small|Too big|Unrecognized)/.test(message);

function issueProblems(issue: Issue, envPaths: Set<string>): PathProblem[] {
  const path = issue.path as Path;
  const fromEnv = envPaths.has(formatPath(path)) ? ' (from the environment)' : '';
  const got = () => describe(issue.input, mayShow(path, envPaths)) + fromEnv;
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => {
        const hint = closest(key, knownKeysAt(path));
        return {
          path: [...path, key], atKey: true,
          message: `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}`,
        };
      });
    case 'invalid_type':
      if (issue.input === undefined) return [{ path, message: 'required' }];
      return [{
        path,
        message: isZodDefault(issue.message)
          ? `expected ${TYPE_WORDS[issue.expected] ?? issue.expected}, got ${got()}`
          : `${issue.message}, got ${got()}`,
      }];
    case 'invalid_value': {
      const values = issue.values.map(String);
      if (issue.input === undefined) return [{ path, message: `required (one of ${values.join(', ')})` }];
      const shown = mayShow(path, envPaths);
      const hint = shown && typeof issue.input === 'string' ? closest(issue.input, values) : null;
      return [{
        path,
        message: `expected one of ${values.join(', ')}, got ${got()}${hint ? ` (did you mean "${hint}"?)` : ''}`,
      }];
    }
    case 'too_small':
      if (!isZodDefault(issue.message)) {
        return [{ path, message: issue.origin === 'number' ? `${issue.message}, got ${got()}` : issue.message }];
      }
      return [{ path, message: issue.origin === 'string' ? 'must not be empty' : `must be at least ${issue.minimum}` }];
    case 'too_big':
      return [{ path, message: isZodDefault(issue.message) ? `must be at most ${issue.maximum}` : issue.message }];
    case 'invalid_key':
      return [{ path, atKey: true, message: issue.issues[0]?.message ?? 'invalid key' }];
    case 'invalid_format':
    case 'invalid_union':
      return [{ path, message: `${issue.message}, got ${got()}` }];
    default:
      return [{ path, message: issue.message }];
  }
}

// ---------------------------------------------------------------------------------------------
// Schema lookups for hints

// zod's definition tree is internal API; it only powers hints and env coercion, so it fails soft.
type Def = { type: string; innerType?: Schema; in?: Schema; shape?: Record<string, Schema>; element?: Schema; valueType?: Schema };
type Schema = { _zod: { def: Def } };

/** The schema node (optional/default/pipe wrappers removed) describing the value at `path`. */
function schemaAt(path: Path): Schema | undefined {
  const unwrap = (s: Schema | undefined): Schema | undefined => {
    while (s) {
      const d = s._zod.def;
      if (d.innerType) s = d.innerType;
      else if (d.type === 'pipe' && d.in) s = d.in;
      else break;
    }
    return s;
  };
  let s = unwrap(configSchema as unknown as Schema);
  for (const seg of path) {
    const d = s?._zod.def;
    if (!d) return undefined;
    s = unwrap(d.type === 'object' ? d.shape?.[String(seg)] : d.type === 'array' ? d.element : d.type === 'record' ? d.valueType : undefined);
  }
  return s;
}

/** The keys the schema allows in the object at `path` (for unknown-key hints). */
function knownKeysAt(path: Path): string[] {
  const d = schemaAt(path)?._zod.def;
  return d?.type === 'object' && d.shape ? Object.keys(d.shape) : [];
}
