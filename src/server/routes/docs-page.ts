import { html, raw } from 'hono/html';

interface OpenApiDoc {
  info: { title: string; version: string; description?: string };
  paths: Record<
    string,
    Record<
      string,
      {
        summary?: string;
        tags?: string[];
        parameters?: { name: string; in: string; required?: boolean }[];
        requestBody?: unknown;
        responses?: Record<string, { description?: string }>;
      }
    >
  >;
}

/**
 * `GET /v1/docs`: the OpenAPI document as one self-contained HTML page (no script, no CDN, nothing
 * fetched), so it works offline and on locked-down installs. Schemas are in /v1/openapi.json.
 */
export function renderDocsPage(doc: OpenApiDoc) {
  const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
  );
  const tags = [...new Set(ops.map((o) => o.op.tags?.[0] ?? 'other'))];
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${doc.info.title} ${doc.info.version}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ddd;margin-top:2rem} .op{margin:.6rem 0;padding:.4rem .6rem;background:#f7f7f8;border-radius:4px}
.m{display:inline-block;min-width:4.5rem;font-weight:600;font-family:monospace} code{font-family:monospace}
.p{color:#555;font-size:13px}
</style></head><body>
<h1>${doc.info.title} <small>${doc.info.version}</small></h1>
<p>${doc.info.description ?? ''}</p>
<p>Send <code>Authorization: Bearer sk_…</code> or <code>X-API-Key: sk_…</code>. Errors are <code>application/problem+json</code> (RFC 9457). The machine-readable document: <a href="/v1/openapi.json">/v1/openapi.json</a>.</p>
${raw(
  tags
    .map(
      (t) =>
        `<h2>${esc(t)}</h2>${ops
          .filter((o) => (o.op.tags?.[0] ?? 'other') === t)
          .map(
            (o) =>
              `<div class="op"><span class="m">${o.method}</span><code>${esc(o.path)}</code> — ${esc(o.op.summary ?? '')}<div class="p">${[
                ...(o.op.parameters ?? []).map(
                  (p) => `${p.in} <code>${esc(p.name)}</code>${p.required ? ' (required)' : ''}`,
                ),
                o.op.requestBody ? 'JSON body' : '',
                `answers ${Object.entries(o.op.responses ?? {})
                  .map(([s, r]) => `${s} ${esc(r.description ?? '')}`)
                  .join('; ')}`,
              ]
                .filter(Boolean)
                .join(' · ')}</div></div>`,
          )
          .join('')}`,
    )
    .join(''),
)}
</body></html>`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
