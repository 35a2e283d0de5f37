// The call gateway is its own layer (src/gateway/, docs/gateway.md); the engine and its callers
// import it from here.
export { createGateway, type GatewayImpl, STAGES } from '../gateway/create-gateway.ts';
export {
  type Clock,
  DAY_MS,
  dailyCapEnvVar,
  type GatewayOptions,
  systemClock,
} from '../gateway/gateway-options.ts';
