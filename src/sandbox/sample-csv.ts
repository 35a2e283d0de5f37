import { stringify } from 'csv-stringify/sync';
import { createRng } from './rng.ts';
import { displayPhone } from './site-render.ts';
import type { World } from './world.ts';

/**
 * The bundled sample (data/virginia-golf-courses.csv): the first `count` golf courses of a world, as a
 * sales rep's spreadsheet would hold them: a website or bare domain for most, a phone in one of several
 * formats, some names in capitals, some states spelled out. `sluice demo` imports it and scores the
 * results against the same world.
 */
export const SAMPLE_SEED = 1;
export const SAMPLE_SIZE = 200;

export function sampleCsv(world: World, count = SAMPLE_SIZE): string {
  const rng = createRng(world.seed, 'sample-csv');
  const rows = world.courses.slice(0, count).map((c) => {
    let website = '';
    if (c.website && !rng.chance(0.08)) {
      website = rng.pick([c.website, `www.${c.domain}`, c.domain, `http://${c.domain}/`, c.website]);
    }
    const name = rng.chance(0.06) ? c.name.toUpperCase() : rng.chance(0.05) ? ` ${c.name} ` : c.name;
    const phone = rng.chance(0.1) ? '' : rng.chance(0.15) ? c.phone : displayPhone(c.phone, rng.int(0, 2));
    const state = rng.chance(0.2) ? 'Virginia' : 'VA';
    return [name, website, phone, c.city, state];
  });
  return stringify([['name', 'website', 'phone', 'city', 'state'], ...rows]);
}
