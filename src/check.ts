/**
 * The whole configuration check, as `callhook check`, `run`, a reload and `send-test` use
 * it: the config side's schema and cross-field rules plus the hooks side's template and URL
 * rules, all reported in one pass.
 */
import { checkConfig, loadConfig, type CheckResult } from './config/load.js';
import type { Config } from './config/types.js';
import { hookProblems } from './hooks/check.js';

const checks = [hookProblems];

/** Validates `file`; never throws. */
export function checkConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): CheckResult {
  return checkConfig(file, { env, checks });
}

/** Reads and validates `file`; throws ConfigError listing every problem. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig(file, { env, checks });
}
