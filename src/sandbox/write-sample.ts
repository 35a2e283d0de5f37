import { writeFileSync } from 'node:fs';
import { SAMPLE_SEED, sampleCsv } from './sample-csv.ts';
import { generateWorld } from './world.ts';

/** Regenerates data/virginia-golf-courses.csv: `npx tsx src/sandbox/write-sample.ts`. */
const target = new URL('../../data/virginia-golf-courses.csv', import.meta.url);
writeFileSync(target, sampleCsv(generateWorld(SAMPLE_SEED)));
process.stdout.write(`wrote ${target.pathname}\n`);
