/**
 * Inbound webhook sources: `POST /v1/hooks/{source}` (and `/v1/hooks/{source}/{token}`).
 *
 * A source is one definition object, registered explicitly (no scanning):
 * - `id`: the `{source}` path segment;
 * - `secretEnv`: the environment variable holding its secret (HMAC key or URL token); a source whose
 *   secret is unset answers 404, so nothing unauthenticated is ever accepted;
 * - `verify(request, secret)`: checks the signature on the RAW bytes (never re-serialised JSON) and
 *   returns undefined, or the reason it is refused (answered 401);
 * - `eventId(request, body)`: the dedupe key (the sender's event id; else a hash of what identifies
 *   the event); a retried delivery with the same id is acknowledged and not stored again;
 * - `process(event, ctx)`: runs later in a job (hook-processor.ts), never in the request: the request
 *   is answered as soon as the raw event is stored. Its returned value is kept in `hook_events.result`;
 *   a throw is retried with backoff (5 attempts), then the event is `failed` (visible, replayable).
 *
 * Other layers (CRM sync) add their sources with `registry.register(source)` before the server starts;
 * registering an id again replaces the default (e.g. the ClickUp/HubSpot processors that only store).
 */
import type { Db } from '../../db/db.ts';

export interface InboundRequest {
  method: string;
  /** The URL as the sender called it (behind a proxy: SLUICE_PUBLIC_URL + path). */
  url: string;
  raw: Buffer;
  header(name: string): string | undefined;
  /** The `{token}` path segment, when present. */
  token: string | undefined;
}

export interface InboundEvent {
  id: number;
  source: string;
  eventId: string;
  body: unknown;
  receivedAt: Date;
}

export interface InboundContext {
  db: Db;
}

export interface InboundSource {
  id: string;
  secretEnv: string;
  verify(request: InboundRequest, secret: string): string | undefined;
  eventId(request: InboundRequest, body: unknown): string;
  /**
   * The body as `eventId` and `process` see it, for senders that post something other than JSON
   * (SendGrid Inbound Parse: multipart/form-data). Default: the raw bytes parsed as JSON. The result is
   * stored as JSON.
   */
  parse?(request: InboundRequest): Promise<unknown>;
  process(event: InboundEvent, ctx: InboundContext): Promise<unknown>;
}

export class InboundRegistry {
  private readonly sources = new Map<string, InboundSource>();

  register(source: InboundSource): this {
    this.sources.set(source.id, source);
    return this;
  }

  get(id: string): InboundSource | undefined {
    return this.sources.get(id);
  }

  ids(): string[] {
    return [...this.sources.keys()];
  }
}
