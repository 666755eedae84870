// Writes schema/callhook.schema.json (for editors: yaml-language-server) from the zod config
// schema in src/config/schema.ts. Runs on the compiled output: `npm run build` first.
import { writeFileSync } from 'node:fs';
import { configJsonSchema } from '../dist/src/config/schema.js';

const target = new URL('../schema/callhook.schema.json', import.meta.url);
writeFileSync(target, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target.pathname}`);
