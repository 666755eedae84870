/** Test helper: write a YAML config into a temp dir and load it with the real loader. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile as loadConfig } from '../../src/check.js';
import type { Config } from '../../src/config/types.js';

export function tempDir(prefix = 'callhook-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeConfig(yaml: string, dir = tempDir()): string {
  const file = join(dir, 'callhook.yaml');
  writeFileSync(file, yaml);
  return file;
}

export function configFrom(yaml: string, env: NodeJS.ProcessEnv = {}): Config {
  return loadConfig(writeConfig(yaml), env);
}

/** A config whose Asterisk trunks are the captures' callers and the `external` endpoint. */
export const ASTERISK_TRUNKS_YAML = `
pbx:
  - name: pbx1
    type: asterisk
    host: 127.0.0.1
    username: callhook
    secret: s3cret
    trunks: ["PJSIP/caller*", "PJSIP/external*"]
webhooks: []
storage: {path: /tmp/callhook-unused}
`;

/** the `pbx:` section for one Asterisk on 127.0.0.1:port as user callhook, secret from $AMI_SECRET; `extra` lines go inside the entry */
export function asteriskPbxYaml(port: number, extra = ''): string {
  return `
pbx:
  - name: pbx1
    type: asterisk
    host: 127.0.0.1
    port: ${port}
    username: callhook
    secret: \${AMI_SECRET}
${extra}`;
}

/**
 * A config file for a daemon that needs no PBX to answer (an Asterisk on port 1, secret in
 * the file), its store in a fresh temp dir (or `store`), with `extra` YAML (default: no HTTP).
 */
export function pbxlessConfig(extra = 'http: {listen: off}', store?: string): string {
  const dir = tempDir();
  return writeConfig(`${asteriskPbxYaml(1).replace('${AMI_SECRET}', 'x')}
storage: {path: ${JSON.stringify(store ?? join(dir, 'store'))}}
${extra}
`, dir);
}
