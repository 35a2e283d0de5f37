import type { Schedule } from './schedule-store.ts';

/**
 * The schedules every process that runs schedules creates (once: a removed one stays removed).
 * Times are UTC.
 */
export const BUILTIN_SCHEDULES: Omit<Schedule, 'enabled'>[] = [
  {
    name: 'freshness',
    action: 'freshness',
    args: { days: 30 },
    cron: '0 6 1 * *',
    timezone: 'UTC',
    builtin: true,
  },
  {
    name: 'crm-pull',
    action: 'crm-pull',
    args: {},
    cron: '*/15 * * * *',
    timezone: 'UTC',
    builtin: true,
  },
  {
    name: 'sequence-steps',
    action: 'sequence-steps',
    args: {},
    cron: '*/5 * * * *',
    timezone: 'UTC',
    builtin: true,
  },
  {
    name: 'outreach-poll',
    action: 'outreach-poll',
    args: {},
    cron: '*/15 * * * *',
    timezone: 'UTC',
    builtin: true,
  },
  {
    name: 'webhook-retries',
    action: 'webhook-retries',
    args: {},
    cron: '* * * * *',
    timezone: 'UTC',
    builtin: true,
  },
  {
    name: 'alerts',
    action: 'alerts-check',
    args: {},
    cron: '*/5 * * * *',
    timezone: 'UTC',
    builtin: true,
  },
];
