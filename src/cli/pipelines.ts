import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { formatIssue, PipelineFileError, type PipelineIssue } from '../pipelines/load.ts';
import { builtinPipelineNames, loadPipeline } from '../pipelines/resolve.ts';
import type { StepSpec } from '../pipelines/schema.ts';
import { action } from './context.ts';
import { table } from './output.ts';

/** `sluice pipelines list|show|validate`: what pipelines exist, what they do, whether a file is valid. */
export function registerPipelines(program: Command): void {
  const cmd = program.command('pipelines').description('list, show and validate enrichment pipelines');

  cmd
    .command('list')
    .description('list the built-in pipelines')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _options: { json?: boolean }) => {
        const rows = [];
        for (const name of await builtinPipelineNames()) {
          try {
            const { spec, file } = await loadPipeline(name);
            rows.push({
              name,
              description: spec.description ?? '',
              steps: spec.steps.length,
              file,
              valid: true,
            });
          } catch (err) {
            rows.push({
              name,
              description: (err as Error).message.split('\n')[0]!,
              steps: 0,
              file: '',
              valid: false,
            });
          }
        }
        if (ctx.out.json) return ctx.out.result({ pipelines: rows });
        if (!rows.length) return ctx.out.line('no built-in pipelines');
        ctx.out.line(
          table(
            rows.map((r) => [r.name, r.valid ? r.steps : 'invalid', oneLine(r.description)]),
            ['name', 'steps', 'description'],
          ),
        );
        ctx.out.line();
        ctx.out.line(
          'Run one with `sluice run --pipeline <name>`; see its steps with `sluice pipelines show <name>`.',
        );
      }),
    );

  cmd
    .command('show')
    .description('show the steps of a pipeline (a built-in name or a .yaml file) and its forecast')
    .argument('<name>', 'built-in pipeline name or path of a pipeline file')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _options: { json?: boolean }, name: string) => {
        const { spec, definition, file } = await loadPipeline(name);
        const forecast = definition.forecast ?? [];
        if (ctx.out.json) return ctx.out.result({ file, pipeline: spec, forecast });
        ctx.out.line(`${ctx.out.style('bold', spec.name)}  (${file})`);
        if (spec.description) ctx.out.line(oneLine(spec.description));
        ctx.out.line();
        for (const line of describeSteps(spec.steps, '')) ctx.out.line(line);
        ctx.out.line();
        ctx.out.line('Calls per record at most (foreach counts its assumed contacts):');
        ctx.out.line(
          table(
            forecast.map((f) => [f.provider, f.operation, f.callsPerRecord]),
            ['provider', 'operation', 'calls'],
          ),
        );
      }),
    );

  cmd
    .command('validate')
    .description('check pipeline files; problems are printed as file:line:col: field: message')
    .argument('<files...>', 'pipeline files (or built-in names)')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _options: { json?: boolean }, files: string[]) => {
        const results: { file: string; valid: boolean; issues: PipelineIssue[] }[] = [];
        for (const f of files) {
          try {
            await loadPipeline(f);
            results.push({ file: f, valid: true, issues: [] });
          } catch (err) {
            if (err instanceof PipelineFileError) results.push({ file: f, valid: false, issues: err.issues });
            else if (err instanceof ConfigError)
              results.push({
                file: f,
                valid: false,
                issues: [{ file: f, line: 0, col: 0, field: '', message: err.message }],
              });
            else throw err;
          }
        }
        const bad = results.filter((r) => !r.valid);
        if (ctx.out.json) ctx.out.result({ valid: bad.length === 0, files: results });
        else
          for (const r of results) {
            if (r.valid) ctx.out.line(`${r.file}: ok`);
            else for (const i of r.issues) ctx.out.line(i.line ? formatIssue(i) : `${r.file}: ${i.message}`);
          }
        if (bad.length) ctx.out.incomplete(`${bad.length} of ${results.length} pipeline file(s) are invalid`);
      }),
    );
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function describeSteps(steps: StepSpec[], indent: string): string[] {
  const lines: string[] = [];
  for (const s of steps) {
    const when = s.when ? `  when ${s.when}` : '';
    switch (s.kind) {
      case 'waterfall': {
        const chain = s.providers.map((p) => `${p.provider}.${p.operation}`).join(' → ');
        const check = s.validate ? `, verified by ${s.validate.provider}.${s.validate.operation}` : '';
        lines.push(`${indent}${s.id}: waterfall ${s.fields.join(', ')} ← ${chain}${check}${when}`);
        break;
      }
      case 'ai':
        lines.push(
          `${indent}${s.id}: ai (${s.model}) → ${Object.keys(s.output ?? {}).join(', ') || '-'}${s.contacts ? ' + new contacts' : ''}${when}`,
        );
        break;
      case 'http':
        lines.push(
          `${indent}${s.id}: http ${s.method} ${s.url} → ${Object.keys(s.output ?? {}).join(', ')}${when}`,
        );
        break;
      case 'formula':
        lines.push(`${indent}${s.id}: formula ${Object.keys(s.fields).join(', ')}${when}`);
        break;
      case 'foreach':
        lines.push(
          `${indent}${s.id}: for each contact${s.where ? ` where ${s.where}` : ''} (${s.concurrency ?? 4} at once)${when}`,
        );
        lines.push(...describeSteps(s.steps, `${indent}  `));
        break;
    }
  }
  return lines;
}
