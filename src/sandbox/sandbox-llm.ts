import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3GenerateResult,
} from '@ai-sdk/provider';
import { describe, fill, findSubject } from './oracle.ts';
import type { World } from './world.ts';

/**
 * The sandbox LLM: an AI SDK LanguageModelV3 that answers from the world. JSON mode fills the requested
 * schema by property name (segment, opportunity scores, water hazards, tenure...); text mode returns a
 * factual paragraph. Token usage is estimated (~4 characters per token) so costs are computed as for
 * a real model.
 */
export function createSandboxLanguageModel(world: World, modelId = 'sandbox'): LanguageModelV3 {
  const generate = (options: LanguageModelV3CallOptions): LanguageModelV3GenerateResult => {
    const promptText = options.prompt
      .map((m) =>
        typeof m.content === 'string'
          ? m.content
          : m.content.map((p) => ('text' in p ? p.text : '')).join('\n'),
      )
      .join('\n');
    const subject = findSubject(world, promptText);
    const format = options.responseFormat;
    const text =
      format?.type === 'json'
        ? JSON.stringify(
            format.schema
              ? fill(world, format.schema as Parameters<typeof fill>[1], subject)
              : { answer: describe(subject) },
          )
        : describe(subject);
    const inputTokens = Math.ceil(promptText.length / 4);
    const outputTokens = Math.ceil(text.length / 4);
    return {
      content: [{ type: 'text', text }],
      finishReason: { unified: 'stop', raw: 'stop' },
      usage: {
        inputTokens: { total: inputTokens, noCache: inputTokens, cacheRead: 0, cacheWrite: 0 },
        outputTokens: { total: outputTokens, text: outputTokens, reasoning: 0 },
      },
      warnings: [],
      response: { id: `sandbox-${inputTokens}-${outputTokens}`, modelId, timestamp: new Date(0) },
    };
  };
  return {
    specificationVersion: 'v3',
    provider: 'sandbox',
    modelId,
    supportedUrls: {},
    async doGenerate(options) {
      return generate(options);
    },
    async doStream(options) {
      const r = generate(options);
      const text = r.content[0]?.type === 'text' ? r.content[0].text : '';
      const stream = new ReadableStream({
        start(controller) {
          controller.enqueue({ type: 'stream-start', warnings: [] });
          controller.enqueue({ type: 'text-start', id: '0' });
          controller.enqueue({ type: 'text-delta', id: '0', delta: text });
          controller.enqueue({ type: 'text-end', id: '0' });
          controller.enqueue({ type: 'finish', finishReason: r.finishReason, usage: r.usage });
          controller.close();
        },
      });
      return { stream };
    },
  };
}
