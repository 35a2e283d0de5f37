import { type AnthropicFakeOptions, createAnthropicFake } from './fakes/anthropic.ts';
import { type ApolloFakeOptions, createApolloFake } from './fakes/apollo.ts';
import { type CrmFakes, startCrmFakes } from './fakes/crm/start-crm-fakes.ts';
import { type EmailFakes, startEmailFakes } from './fakes/email/start-email-fakes.ts';
import type { FakeOptions, FakeServer, RunningServer } from './fakes/fake-kit.ts';
import { listen } from './fakes/fake-kit.ts';
import { createHunterFake, type HunterFakeOptions } from './fakes/hunter.ts';
import { createJinaFake, type JinaFakeOptions } from './fakes/jina.ts';
import { createOpenAiFake, type OpenAiFakeOptions } from './fakes/openai.ts';
import { createPerplexityFake, type PerplexityFakeOptions } from './fakes/perplexity.ts';
import { createSitesFake } from './fakes/sites.ts';
import type { ReaderRates } from './reader/reader-rates.ts';
import { createSandboxModel, type SandboxModel } from './sandbox-model.ts';
import { generateWorld, type World, type WorldOptions } from './world.ts';

/**
 * Starts the whole sandbox: the world and one local fake server per provider, the language models
 * included (OpenAI- and Anthropic-compatible servers answered by the sandbox model). Returns the base
 * URLs, the env overrides that point Sluice's real adapters at the fakes (keys included) and `stop()`.
 * Nothing here talks to the internet.
 */
export const SANDBOX_BANNER = 'sandbox: simulated providers, no real data';

/**
 * The outbound-edge policy for code that talks to servers the sandbox runs on 127.0.0.1 (its fakes,
 * `sluice serve --sandbox`'s webhook receivers): loopback admitted, every other internal address still
 * refused. The one opt-in to loopback outside tests (docs/security.md); nothing else sets it.
 */
export const SANDBOX_OUTBOUND = { allowLoopback: true } as const;

export interface SandboxOptions {
  /** World and fake-behaviour seed. Default 1. */
  seed?: number;
  world?: WorldOptions;
  /** Options for every fake (latency, coverage, fault rate...); per-provider entries win. */
  fakes?: FakeOptions;
  perProvider?: {
    hunter?: HunterFakeOptions;
    apollo?: ApolloFakeOptions;
    perplexity?: PerplexityFakeOptions;
    jina?: JinaFakeOptions;
    website?: FakeOptions;
    openai?: OpenAiFakeOptions;
    anthropic?: AnthropicFakeOptions;
  };
  /** The reader's error rates (docs/sandbox.md). Default READER_RATES; adapter tests use none. */
  readerRates?: ReaderRates;
  /** First port to try (each fake takes the next). Default 0 = any free ports. */
  port?: number;
}

export interface Sandbox {
  world: World;
  /** provider id -> base URL of its fake. */
  baseUrls: Record<string, string>;
  /** Env vars to apply (base URLs and keys), e.g. merged into Config.env. */
  env: Record<string, string>;
  /** The fakes, for tests that switch fault modes or read request counts. */
  fakes: Record<string, FakeServer>;
  /** The reader behind the model fakes (tests ask it directly). */
  model: SandboxModel;
  /** The CRM fakes (ClickUp, HubSpot, GoHighLevel) the sync writes to; their env is in `env`. */
  crm: CrmFakes;
  /** The email fakes (SendGrid, Instantly) outreach sends to; their env is in `env`. */
  email: EmailFakes;
  stop(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const seed = options.seed ?? 1;
  const world = generateWorld(seed, options.world);
  const opts = <K extends keyof NonNullable<SandboxOptions['perProvider']>>(id: K) => ({
    ...options.fakes,
    ...(options.perProvider?.[id] as NonNullable<SandboxOptions['perProvider']>[K]),
  });
  const model = createSandboxModel(world, {
    seed: options.fakes?.seed ?? seed,
    ...(options.readerRates ? { rates: options.readerRates } : {}),
  });
  const fakes: Record<string, FakeServer> = {
    hunter: createHunterFake(world, opts('hunter')),
    apollo: createApolloFake(world, opts('apollo')),
    perplexity: createPerplexityFake(world, model, opts('perplexity')),
    openai: createOpenAiFake(world, model, opts('openai')),
    anthropic: createAnthropicFake(world, model, opts('anthropic')),
    jina: createJinaFake(world, opts('jina')),
    website: createSitesFake(world, opts('website')),
  };
  const running: RunningServer[] = [];
  const baseUrls: Record<string, string> = {};
  try {
    let port = options.port ?? 0;
    for (const [id, fake] of Object.entries(fakes)) {
      const server = await listen(fake.app, port, fake.stats.load);
      running.push(server);
      baseUrls[id] = server.url;
      if (port) port++;
    }
  } catch (err) {
    await Promise.all(running.map((s) => s.close()));
    throw err;
  }
  const crm = await startCrmFakes(options.port ? { port: options.port + running.length } : {});
  let email: EmailFakes;
  try {
    email = await startEmailFakes(world, {
      seed: options.fakes?.seed ?? seed,
      ...(options.port ? { port: options.port + running.length + 3 } : {}),
    });
  } catch (err) {
    await Promise.all([...running.map((s) => s.close()), crm.stop()]);
    throw err;
  }
  const env: Record<string, string> = {
    SLUICE_HUNTER_BASE_URL: baseUrls.hunter!,
    HUNTER_API_KEY: fakes.hunter!.apiKey,
    SLUICE_APOLLO_BASE_URL: baseUrls.apollo!,
    APOLLO_API_KEY: fakes.apollo!.apiKey,
    SLUICE_PERPLEXITY_BASE_URL: baseUrls.perplexity!,
    PERPLEXITY_API_KEY: fakes.perplexity!.apiKey,
    SLUICE_JINA_BASE_URL: baseUrls.jina!,
    JINA_API_KEY: fakes.jina!.apiKey,
    SLUICE_WEBSITE_BASE_URL: baseUrls.website!,
    // The llm provider's vendors (src/providers/llm): the AI SDK appends /chat/completions, /messages.
    SLUICE_OPENAI_BASE_URL: `${baseUrls.openai!}/v1`,
    OPENAI_API_KEY: fakes.openai!.apiKey,
    SLUICE_ANTHROPIC_BASE_URL: `${baseUrls.anthropic!}/v1`,
    ANTHROPIC_API_KEY: fakes.anthropic!.apiKey,
    ...crm.env,
    ...email.env,
  };
  return {
    world,
    baseUrls,
    env,
    fakes,
    model,
    crm,
    email,
    async stop() {
      await Promise.all([...running.map((s) => s.close()), crm.stop(), email.stop()]);
    },
  };
}
