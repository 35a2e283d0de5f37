import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Db } from '../../db/db.ts';
import { mergeHumanSections } from './human-sections.ts';
import { renderRetro } from './render-retro.ts';
import { type RetroData, retroData } from './retro-data.ts';

/** `sluice retro`: gathers, renders and (given a file) writes, keeping what a person wrote there. */
export interface RetroResult {
  markdown: string;
  data: RetroData;
  /** Milliseconds spent gathering figures and rendering. */
  ms: number;
  file: string | null;
  /** Human sections carried over from the file's previous version. */
  kept: boolean;
}

export async function generateRetro(
  db: Db,
  slug: string,
  options: { file?: string; now?: Date } = {},
): Promise<RetroResult> {
  const started = performance.now();
  const data = await retroData(db, slug);
  const generated = renderRetro(data, options.now ?? new Date());
  const previous = options.file ? await readIfThere(options.file) : null;
  const markdown = mergeHumanSections(generated, previous);
  const ms = performance.now() - started;
  if (options.file) {
    await mkdir(dirname(options.file), { recursive: true });
    // write-then-rename: an interrupted write never leaves half a retrospective over the person's text
    const tmp = `${options.file}.tmp-${process.pid}`;
    await writeFile(tmp, markdown);
    await rename(tmp, options.file);
  }
  return { markdown, data, ms, file: options.file ?? null, kept: previous !== null };
}

async function readIfThere(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
