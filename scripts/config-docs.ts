// Rewrites config/default.yaml from the config schema.
import { writeFileSync } from 'node:fs';
import { renderDefaultConfig } from '../src/config/docs.js';

writeFileSync(new URL('../config/default.yaml', import.meta.url), renderDefaultConfig());
process.stdout.write('config/default.yaml written\n');
