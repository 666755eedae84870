import { test } from 'vitest';
import { readdirSync } from 'node:fs';
import { checkConfig } from '../src/config/load.js';
test('x', () => {
  for (const f of readdirSync('test/fixtures/config').filter(f => f.endsWith('.yaml'))) {
  const r = checkConfig('test/fixtures/config/' + f, { AMI_SECRET: 'hunter2hunter2', PBX_TYPE: 'asterix', CRM_URL: 'http://bob:pa55word@crm.example.com/x', CRM_TOKEN: 'tok-tok-tok' });
  console.log('== ' + f + '\n' + (r.ok ? JSON.stringify(r.config) : r.problems.join('\n')));
  }
});
