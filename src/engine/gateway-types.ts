// The gateway's contract lives in its own layer (src/gateway/); re-exported for the engine and steps.
export type { CallOutcome, CallRequest, Gateway } from '../gateway/gateway-types.ts';
