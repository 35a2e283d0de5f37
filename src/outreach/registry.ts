import { ConfigError } from '../errors.ts';
import type { EmailProviderDefinition } from './email-provider.ts';
import { instantly } from './instantly/index.ts';
import { sendgrid } from './sendgrid/index.ts';

/** The email tools a sequence can send through, registered explicitly (no scanning). */
export const emailProviders: readonly EmailProviderDefinition[] = [sendgrid, instantly];

export type Channel = 'sendgrid' | 'instantly';
export const CHANNELS = ['sendgrid', 'instantly'] as const;

export function getEmailProvider(id: string): EmailProviderDefinition {
  const p = emailProviders.find((x) => x.id === id);
  if (!p)
    throw new ConfigError(
      `no email provider "${id}": known are ${emailProviders.map((x) => x.id).join(', ')}`,
    );
  return p;
}
