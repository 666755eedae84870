// Config loading (DESIGN §4): every kind of mistake is reported as FILE:LINE:COL: message,
// all at once; valid files resolve with defaults; secrets never leak into messages.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkConfigText as checkText, ConfigError } from '../src/config/load.js';
import { checkConfigFile as checkConfig, loadConfigFile as loadConfig } from '../src/check.js';
import { hookProblems } from '../src/hooks/check.js';
import { newSecret } from './helpers/verify.js';

const checkConfigText = (text: string, file: string, env: NodeJS.ProcessEnv) => checkText(text, file, { env, checks: [hookProblems] });
import { configJsonSchema } from '../src/config/schema.js';
import { compileTemplate, TEMPLATE_FIELDS } from '../src/hooks/template.js';
import { formatDuration, parseDuration } from '../src/config/duration.js';
import { globMatcher } from '../src/util/glob.js';

const DIR = fileURLToPath(new URL('./fixtures/config/', import.meta.url));
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const fixture = (name: string) => join(DIR, name);

function problemsOf(name: string, env: NodeJS.ProcessEnv = {}): string[] {
  const result = checkConfig(fixture(name), env);
  if (result.ok) throw new Error(`${name} unexpectedly valid`);
  return result.problems;
}

const DURATION_HINT = 'expected a duration like 5s (250ms, 5s, 5m, 2h, 7d or a number of seconds)';

describe('problems are reported as FILE:LINE:COL: message', () => {
  it('bad YAML syntax', () => {
    const f = fixture('syntax.yaml');
    expect(problemsOf('syntax.yaml')).toEqual([
      `${f}:5:1: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]\n` +
        '  5 | webhooks: []\n' +
        '    | ^',
    ]);
  });

  it('an indentation slip is one problem with the line and a caret, not the parser\'s follow-on complaints', () => {
    const text = ['pbx:', '  - name: pbx1', '    type: asterisk', '   username: callhook', '    secret: x', ''].join('\n');
    const r = checkConfigText(text, '/tmp/indent.yaml', {});
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toBe(
      '/tmp/indent.yaml:4:1: YAML: Sequence item without - indicator\n' +
        '  4 |    username: callhook\n' +
        '    | ^',
    );
  });

  it('reports every problem in one run: unset variables, a misspelt key, a bad port, templates, secrets', () => {
    const text = [
      'pbx:',
      '  - name: pbx1',
      '    type: asterisk',
      '    username: callhook',
      '    secret: ${AMI_SECRET}',
      '    trunkz: ["PJSIP/x-*"]',
      'webhooks:',
      '  - name: crm',
      '    url: http://127.0.0.1:9/h/{{endpoint}',
      '    events: ["*"]',
      '    format: template',
      "    template: '{\"a\":\"{{nope}}\"}'",
      '    signing_secret: my-crm-secret',
      'http:',
      '  listen: 127.0.0.1:99999',
      '',
    ].join('\n');
    const r = checkConfigText(text, '/tmp/all.yaml', {});
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.replace(/ \(make one with.*$/, ''))).toEqual([
      '/tmp/all.yaml:5:13: pbx[0].secret: environment variable AMI_SECRET is not set',
      '/tmp/all.yaml:6:5: pbx[0].trunkz: unknown key (did you mean "trunks"?)',
      '/tmp/all.yaml:9:10: webhooks[0].url: unclosed "{{" near "{{endpoint}"',
      '/tmp/all.yaml:12:15: webhooks[0].template: unknown field "nope"',
      '/tmp/all.yaml:13:21: webhooks[0].signing_secret: expected a Standard Webhooks secret: "whsec_" + base64 of 24 to 64 random bytes',
      '/tmp/all.yaml:15:11: http.listen: port must be 0..65535 (0: any free port)',
    ]);
  });

  it('unknown keys, top-level and nested, with a suggestion', () => {
    const f = fixture('unknown-key.yaml');
    expect(problemsOf('unknown-key.yaml')).toEqual([
      `${f}:2:5: pbx[0].secret: required (set secret or secret_file)`,
      `${f}:5:5: pbx[0].secert: unknown key (did you mean "secret"?)`,
      `${f}:10:14: webhooks[0].filter.directon: unknown key (did you mean "direction"?)`,
      `${f}:11:1: loging: unknown key`,
    ]);
  });

  it('wrong types', () => {
    const f = fixture('wrong-type.yaml');
    expect(problemsOf('wrong-type.yaml')).toEqual([
      `${f}:4:11: pbx[0].port: expected a number, got "5038x"`,
      `${f}:7:13: pbx[0].trunks: expected a list, got "PJSIP/provider-*"`,
      `${f}:12:14: webhooks[0].enabled: expected true or false, got "yes"`,
    ]);
  });

  it('bad enum values, with a suggestion when one is close', () => {
    const f = fixture('bad-enum.yaml');
    const events = 'call.initial, call.ringing, call.connected, call.hold, call.unhold, call.missed, call.hangup, '
      + 'call.dtmf, call.transferred, call.reporting, agent.login, agent.logout, agent.paused, agent.unpaused, queue.wrapup, ivr.start, ivr.end, *';
    expect(problemsOf('bad-enum.yaml')).toEqual([
      `${f}:3:11: pbx[0].type: expected one of asterisk, freeswitch, got "asterix" (did you mean "asterisk"?)`,
      `${f}:9:13: webhooks[0].method: expected one of POST, GET, got "PUT" (did you mean "POST"?)`,
      `${f}:10:14: webhooks[0].events[0]: expected one of ${events}, got "call.answered"`,
      `${f}:11:13: webhooks[0].format: expected one of default, voipstudio, voiso, ziwo, template, got "json"`,
      `${f}:12:14: log.level: expected one of trace, debug, info, warn, error, fatal, got "verbose"`,
    ]);
  });

  it('bad durations', () => {
    const f = fixture('bad-duration.yaml');
    expect(problemsOf('bad-duration.yaml')).toEqual([
      `${f}:5:20: pbx[0].ping_interval: ${DURATION_HINT}, got -5`,
      `${f}:10:14: webhooks[0].timeout: ${DURATION_HINT}, got "five"`,
      `${f}:11:28: webhooks[0].retry.schedule[1]: ${DURATION_HINT}, got "1 hour"`,
    ]);
  });

  it('missing required keys point at their map', () => {
    const f = fixture('missing-required.yaml');
    expect(problemsOf('missing-required.yaml')).toEqual([
      `${f}:2:5: pbx[0].type: required (one of asterisk, freeswitch)`,
      `${f}:4:5: pbx[1].username: required for type: asterisk (the AMI user)`,
      `${f}:8:5: webhooks[0].url: required`,
      `${f}:8:5: webhooks[0].events: required`,
      `${f}:8:5: webhooks[0].template: required with format: template`,
    ]);
  });

  it('a missing ${ENV} variable without default', () => {
    const f = fixture('missing-env.yaml');
    expect(problemsOf('missing-env.yaml', { AMI_SECRET: 'x' })).toEqual([
      `${f}:9:10: webhooks[0].url: environment variable CRM_HOST is not set`,
    ]);
  });

  it('an unreadable secret_file, and a secret given twice', () => {
    const f = fixture('secret-file.yaml');
    expect(problemsOf('secret-file.yaml')).toEqual([
      `${f}:5:18: pbx[0].secret_file: cannot read "${join(DIR, 'does-not-exist.secret')}" (ENOENT: no such file)`,
      `${f}:11:5: webhooks[0].signing_secret_file: give either signing_secret or signing_secret_file, not both`,
    ]);
  });

  it('http only to loopback hosts or with allow_http; urls must be urls', () => {
    const f = fixture('http-url.yaml');
    expect(problemsOf('http-url.yaml')).toEqual([
      `${f}:4:25: webhooks[0].url: plain http to non-loopback host "crm.example.com": use https, or set allow_http: true`,
      `${f}:9:28: webhooks[5].url: not a valid URL (expected https://host/path)`,
      `${f}:10:22: webhooks[6].url: unsupported scheme "ftp" (expected https)`,
    ]);
  });

  it('duplicate pbx and webhook names', () => {
    const f = fixture('duplicate-names.yaml');
    expect(problemsOf('duplicate-names.yaml')).toEqual([
      `${f}:3:12: pbx[1].name: duplicate pbx name "pbx1" (also pbx[0])`,
      `${f}:7:12: webhooks[2].name: duplicate webhook name "crm" (also webhooks[0])`,
    ]);
  });

  it('unknown template fields, in the template and in the url', () => {
    const f = fixture('template-field.yaml');
    const problems = problemsOf('template-field.yaml');
    expect(problems).toHaveLength(2);
    // a did-you-mean, not the list of every field
    expect(problems).toEqual([
      `${f}:10:10: webhooks[1].url: unknown field "leg"`,
      `${f}:13:15: webhooks[1].template: unknown field "agnet" (did you mean "agent"?)`,
    ]);
  });

  it('several problems in one file are all reported, in file order', () => {
    const f = fixture('multiple.yaml');
    expect(problemsOf('multiple.yaml')).toEqual([
      `${f}:6:21: pbx[0].action_timeout: ${DURATION_HINT}, got "soon"`,
      `${f}:9:10: webhooks[0].url: plain http to non-loopback host "crm.example.com": use https, or set allow_http: true`,
      `${f}:11:5: webhooks[0].timeot: unknown key (did you mean "timeout"?)`,
      `${f}:12:16: http.listen: expected host:port like 127.0.0.1:9466, or off, got "localhost"`,
    ]);
  });

  it('a config file that cannot be read', () => {
    const f = fixture('no-such-file.yaml');
    expect(checkConfig(f, {})).toEqual({ ok: false, problems: [`${f}: cannot read config file (ENOENT: no such file)`] });
  });

  it('loadConfig throws a ConfigError carrying every problem', () => {
    let caught: unknown;
    try {
      loadConfig(fixture('multiple.yaml'), {});
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).problems).toHaveLength(4);
    expect((caught as ConfigError).message).toContain('multiple.yaml:12:16: http.listen');
  });
});

describe('secrets never appear in messages', () => {
  it('values from the environment, secrets, tokens and headers are described by type only', () => {
    const env = {
      AMI_SECRET: 'hunter2hunter2', PBX_TYPE: 'asterix',
      CRM_URL: 'http://bob:pa55word@crm.example.com/x', CRM_TOKEN: 'tok-tok-tok',
    };
    const f = fixture('secrets-hidden.yaml');
    const problems = problemsOf('secrets-hidden.yaml', env);
    expect(problems).toEqual([
      `${f}:3:11: pbx[0].type: expected one of asterisk, freeswitch, got a string (from the environment)`,
      `${f}:5:13: pbx[0].secret: expected a string, got a list`,
      `${f}:6:11: pbx[0].port: expected a number, got a string (from the environment)`,
      `${f}:9:10: webhooks[0].url: plain http to non-loopback host "crm.example.com": use https, or set allow_http: true`,
      `${f}:11:14: webhooks[0].timeout: ${DURATION_HINT}, got a string (from the environment)`,
      `${f}:12:12: webhooks[0].token: expected a string, got a number`,
      `${f}:14:22: webhooks[0].headers.Authorization: expected a string, got a list`,
      `${f}:15:14: webhooks[0].headers.X-Key: expected a string, got a number`,
    ]);
    const all = problems.join('\n');
    for (const secret of ['hunter2', 'pa55word', 'bob', 'tok-tok', '12345', '998877', 'asterix']) {
      expect(all).not.toContain(secret);
    }
  });

  it('a secret read from a file stays out of messages too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'callhook-config-'));
    try {
      writeFileSync(join(dir, 'ami.secret'), 'file-secret-777\n');
      writeFileSync(join(dir, 'c.yaml'), 'pbx:\n  - {name: p, type: asterisk, username: u, secret_file: ami.secret, port: nope}\n');
      const result = checkConfig(join(dir, 'c.yaml'), {});
      expect(result.ok).toBe(false);
      expect(JSON.stringify(result)).not.toContain('file-secret-777');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('valid files', () => {
  it('applies defaults and resolves ${ENV}, secret_file and durations', () => {
    const config = loadConfig(fixture('valid-minimal.yaml'), { AMI_SECRET: 'from-env' });
    expect(config.file).toBe(fixture('valid-minimal.yaml'));
    expect(config.pbx[0]).toEqual({
      name: 'pbx1', type: 'asterisk', host: '127.0.0.1', port: 5038, username: 'callhook', secret: 'from-env',
      trunks: [], event_format: 'plain', ivrs: [], action_timeout_ms: 10_000, ping_interval_ms: 20_000,
      orphan_timeout_ms: 4 * 3_600_000, wrapup_ms: 0, enabled: true,
    });
    expect(config.pbx[1]).toMatchObject({ type: 'freeswitch', port: 8021, username: null, secret: 's3cret-from-file' });
    expect(config.webhooks[0]).toEqual({
      name: 'crm', sink: 'http', exchange: null, url: 'https://crm.example.com/hooks', method: 'POST', events: ['call.connected', 'call.hangup'],
      filter: null, format: 'default', template: null, token: null, signing_secret: null, headers: {},
      timeout_ms: 5000,
      retry: { schedule_ms: [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000] },
      allow_http: false, enabled: true,
    });
    expect(config.webhooks[1]).toMatchObject({
      format: 'template', template: '{"who":"{{endpoint}}"}', timeout_ms: 250, retry: { schedule_ms: [0, 1500, 120_000] },
    });
    expect(config.storage).toEqual({ path: '/var/lib/callhook', sync: 'normal', retention_ms: 7 * 86_400_000 });
    expect(config.http).toEqual({ listen: null, token: null });
    expect(config.log).toEqual({ level: 'info' });
    expect(config.calls).toEqual({ recording_variable: null, recording_url: null });
  });

  it('${VAR:-default} uses the default when VAR is unset or empty, the value otherwise', () => {
    const defaults = loadConfig(fixture('missing-env.yaml'), { AMI_SECRET: 's', CRM_HOST: 'crm.example.com', AMI_USER: '' });
    expect(defaults.pbx[0]).toMatchObject({ username: 'callhook', port: 5039 });
    expect(defaults.webhooks[0].url).toBe('https://crm.example.com/hooks');
    expect(defaults.webhooks[0].headers).toEqual({ Authorization: 'Bearer ' });
    const set = loadConfig(fixture('missing-env.yaml'), {
      AMI_SECRET: 's', CRM_HOST: 'h.example.com', AMI_USER: 'ops', AMI_PORT: '6000', CRM_TOKEN: 't',
    });
    expect(set.pbx[0]).toMatchObject({ username: 'ops', port: 6000, secret: 's' });
    expect(set.webhooks[0].headers).toEqual({ Authorization: 'Bearer t' });
  });

  it('$${ is a literal ${, and a malformed reference is an error', () => {
    const base = 'pbx:\n  - {name: p, type: freeswitch, secret: ';
    const ok = checkConfigText(`${base}"a$\${B}c"}\n`, '/tmp/x.yaml', {});
    expect(ok.ok && ok.config.pbx[0].secret).toBe('a${B}c');
    const bad = checkConfigText(`${base}"a\${B"}\n`, '/tmp/x.yaml', {});
    expect(bad).toEqual({
      ok: false,
      problems: ['/tmp/x.yaml:2:41: pbx[0].secret: malformed ${...} reference (expected ${NAME} or ${NAME:-default}; write $${ for a literal ${)'],
    });
  });

  it('rules spanning keys: username per PBX type, template only with format template, filter pbx names', () => {
    const text = [
      'pbx:',
      '  - {name: fs1, type: freeswitch, username: u, secret: s}',
      'webhooks:',
      '  - {name: a, url: "https://a.example.com", events: ["*"], template: "{{src}}", filter: {pbx: [fs1, fs2]}}',
    ].join('\n');
    expect(checkConfigText(text, '/tmp/x.yaml', {})).toEqual({
      ok: false,
      problems: [
        '/tmp/x.yaml:2:35: pbx[0].username: only used with type: asterisk (ESL has just a password)',
        '/tmp/x.yaml:4:60: webhooks[0].template: only used with format: template',
        '/tmp/x.yaml:4:101: webhooks[0].filter.pbx[1]: no pbx named "fs2" (known: fs1)',
      ],
    });
  });

  it('anchors and merge keys work, and an empty file says what is missing', () => {
    const text = [
      'pbx: [{name: p, type: freeswitch, secret: s}]',
      'x-defaults: &hook {events: ["*"], timeout: 2s}',
    ].join('\n');
    expect(checkConfigText(text, '/tmp/x.yaml', {})).toEqual({ ok: false, problems: ['/tmp/x.yaml:2:1: x-defaults: unknown key'] });
    const merged = checkConfigText([
      'pbx: [{name: p, type: freeswitch, secret: s}]',
      'webhooks:',
      '  - &hook {name: a, url: "https://a.example.com", events: ["*"], timeout: 2s}',
      '  - {<<: *hook, name: b}',
    ].join('\n'), '/tmp/x.yaml', {});
    expect(merged.ok && merged.config.webhooks.map((w) => [w.name, w.timeout_ms])).toEqual([['a', 2000], ['b', 2000]]);
    expect(checkConfigText('', '/tmp/x.yaml', {})).toEqual({ ok: false, problems: ['/tmp/x.yaml:1:1: pbx: required'] });
  });

  it('the example config passes, with the variables it references set', () => {
    const file = join(ROOT, 'config/callhook.example.yaml');
    expect(readFileSync(file, 'utf8').split('\n')[0]).toBe('# yaml-language-server: $schema=../schema/callhook.schema.json');
    const result = checkConfig(file, { AMI_SECRET: 'a', CRM_SIGNING_SECRET: newSecret(), CRM_TOKEN: 'c', VOIPSTUDIO_KEY: 'd' });
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.config.pbx.map((p) => p.type)).toEqual(['asterisk', 'freeswitch']);
    expect(result.config.webhooks.map((w) => w.format)).toEqual(['default', 'default', 'voipstudio', 'template']);
    expect(result.config.webhooks[0].headers.Authorization).toBe('Bearer c');
  });

  it('the example config without its variables names each one', () => {
    const result = checkConfig(join(ROOT, 'config/callhook.example.yaml'), {});
    expect(result.ok).toBe(false);
    const missing = (result as { problems: string[] }).problems.map((p) => /variable (\w+)/.exec(p)?.[1]);
    expect(missing).toEqual(['AMI_SECRET', 'CRM_SIGNING_SECRET', 'CRM_TOKEN', 'VOIPSTUDIO_KEY']);
  });
});

describe('JSON Schema', () => {
  it('schema/callhook.schema.json is what the zod schema generates (run `npm run schema` after changes)', () => {
    const committed = JSON.parse(readFileSync(join(ROOT, 'schema/callhook.schema.json'), 'utf8'));
    expect(committed).toEqual(configJsonSchema());
  });

  it('describes the file: required keys, no extra keys, defaults in config spelling', () => {
    const schema = configJsonSchema() as {
      required: string[]; additionalProperties: boolean;
      properties: { pbx: { items: { required: string[]; properties: Record<string, { default?: unknown }> } } };
    };
    expect(schema.required).toEqual(['pbx']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.pbx.items.required).toEqual(['name', 'type']);
    expect(schema.properties.pbx.items.properties.action_timeout.default).toBe('10s');
  });
});

describe('template tags', () => {
  it('finds {{field}} and #field# tags, once each, in order', () => {
    expect(compileTemplate('{"a":"{{ endpoint }}","b":"#src#","c":"{{queue.name}}","d":"{{endpoint}}"} # not#a tag', 'text').fields)
      .toEqual(['endpoint', 'src', 'queue.name']);
    expect(compileTemplate('no tags, a lone # and {single} braces', 'text').fields).toEqual([]);
  });

  it('knows the canonical fields and their dotted parts', () => {
    for (const f of ['call_id', 'endpoint', 'queue.name', 'dtmf.digit', 'hold.by', 'pbx.name', 'signal.event']) {
      expect(TEMPLATE_FIELDS).toContain(f);
    }
    expect(TEMPLATE_FIELDS).not.toContain('agnet');
  });
});

describe('durations and globs', () => {
  it('parses every duration spelling to milliseconds', () => {
    expect(['250ms', '5s', '5m', '2h', '7d', '1.5s'].map(parseDuration)).toEqual([250, 5000, 300_000, 7_200_000, 604_800_000, 1500]);
    expect(parseDuration(30)).toBe(30_000);
    expect(parseDuration(0.25)).toBe(250);
    for (const bad of ['five', '5', '-5s', '5 s', '', -1, true, null]) expect(parseDuration(bad)).toBeNull();
    expect([300_000, 1500, 36_000_000].map(formatDuration)).toEqual(['5m', '1500ms', '10h']);
  });

  it('matches * and ? across slashes, case-sensitively, everything else literal', () => {
    const trunk = globMatcher(['PJSIP/provider-*', 'sofia/gateway/*']);
    expect(trunk('PJSIP/provider-0000001a')).toBe(true);
    expect(trunk('sofia/gateway/carrier1/+4420123')).toBe(true);
    expect(trunk('PJSIP/agent1-00000002')).toBe(false);
    expect(trunk('pjsip/provider-1')).toBe(false);
    const numbers = globMatcher(['+4420*', '1???']);
    expect(numbers('+442071234567')).toBe(true);
    expect(numbers('44207')).toBe(false);
    expect(numbers('1001')).toBe(true);
    expect(numbers('10011')).toBe(false);
    expect(globMatcher(['a.c'])('abc')).toBe(false);
    expect(globMatcher(['(x)[y]{z}|$^\\'])('(x)[y]{z}|$^\\')).toBe(true);
    expect(globMatcher([])('anything')).toBe(false);
  });
});

describe('amqp sinks', () => {
  const base = `pbx:
  - {name: pbx1, type: asterisk, username: u, secret: s}
webhooks:
  - {name: crm, url: "https://crm.example.com/h", events: ["*"]}
amqp:
`;
  const check = (sink: string) => checkConfigText(base + sink, 'c.yaml', {});
  it('takes an amqps broker, or amqp:// to loopback, and joins the webhooks list as sink amqp', () => {
    const r = check('  - {name: bus, url: "amqps://u:p@mq.example.com/prod", events: ["call.hangup"]}\n  - {name: local, url: "amqp://guest:guest@127.0.0.1:5672/", events: ["*"], exchange: calls}\n');
    expect(r.ok, r.ok ? '' : r.problems.join('\n')).toBe(true);
    if (!r.ok) return;
    expect(r.config.webhooks.map((w) => [w.name, w.sink, w.exchange])).toEqual([['crm', 'http', null], ['bus', 'amqp', 'callhook'], ['local', 'amqp', 'calls']]);
  });
  it.each([
    ['  - {name: bus, url: "amqp://u:p@mq.example.com/", events: ["*"]}\n', 'c.yaml:6:22: amqp[0].url: plain amqp to non-loopback host "mq.example.com": use amqps, or set allow_plain: true'],
    ['  - {name: bus, url: "https://mq.example.com/", events: ["*"]}\n', 'c.yaml:6:22: amqp[0].url: unsupported scheme "https" (expected amqps)'],
    ['  - {name: crm, url: "amqps://mq.example.com/", events: ["*"]}\n', 'c.yaml:6:12: amqp[0].name: "crm" is also a webhook name: sinks share one namespace'],
  ])('refuses %s', (sink, problem) => {
    const r = check(sink);
    expect(r.ok ? [] : r.problems).toEqual([problem]);
  });
  it('allow_plain lets amqp:// go to another host', () => {
    expect(check('  - {name: bus, url: "amqp://u:p@mq.example.com/", events: ["*"], allow_plain: true}\n').ok).toBe(true);
  });
});
