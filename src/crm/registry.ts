import { ConfigError } from '../errors.ts';
import { clickup } from './clickup/index.ts';
import type { DestinationDefinition } from './define-destination.ts';
import { gohighlevel } from './gohighlevel/index.ts';
import { hubspot } from './hubspot/index.ts';

/**
 * Every CRM Sluice can sync to, listed explicitly (no directory scanning): adding one means adding
 * its folder and one line here.
 */
export const destinations: readonly DestinationDefinition[] = [clickup, hubspot, gohighlevel];

/** The destination with this id; a ConfigError listing the known ids otherwise. */
export function getDestination(id: string): DestinationDefinition {
  const found = destinations.find((d) => d.id === id);
  if (!found) {
    throw new ConfigError(
      `unknown destination "${id}". Known destinations: ${destinations.map((d) => d.id).join(', ')} (see \`sluice crm list\`).`,
      { exitCode: 2 },
    );
  }
  return found;
}
