/** The engine's bookkeeping waits database outages out with the same helper as the gateway. */
export { type DatabaseRetryOptions, retryWhileDatabaseDown } from '../db/db-retry.ts';
