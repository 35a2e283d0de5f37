/**
 * The send window in the contact's time zone: a message is sent only between `from` and `to` (minutes
 * after local midnight) on the window's weekdays, local to the contact. The time zone is the contact's
 * `time_zone` attribute, else the main zone of the account's US state, else the sequence's default.
 */
export interface SendWindow {
  from: number;
  to: number;
  /** 0 = Sunday. */
  days: number[];
}

const STATE_TZ: Record<string, string> = {
  AL: 'America/Chicago',
  AK: 'America/Anchorage',
  AZ: 'America/Phoenix',
  AR: 'America/Chicago',
  CA: 'America/Los_Angeles',
  CO: 'America/Denver',
  CT: 'America/New_York',
  DE: 'America/New_York',
  DC: 'America/New_York',
  FL: 'America/New_York',
  GA: 'America/New_York',
  HI: 'Pacific/Honolulu',
  ID: 'America/Boise',
  IL: 'America/Chicago',
  IN: 'America/Indiana/Indianapolis',
  IA: 'America/Chicago',
  KS: 'America/Chicago',
  KY: 'America/New_York',
  LA: 'America/Chicago',
  ME: 'America/New_York',
  MD: 'America/New_York',
  MA: 'America/New_York',
  MI: 'America/Detroit',
  MN: 'America/Chicago',
  MS: 'America/Chicago',
  MO: 'America/Chicago',
  MT: 'America/Denver',
  NE: 'America/Chicago',
  NV: 'America/Los_Angeles',
  NH: 'America/New_York',
  NJ: 'America/New_York',
  NM: 'America/Denver',
  NY: 'America/New_York',
  NC: 'America/New_York',
  ND: 'America/Chicago',
  OH: 'America/New_York',
  OK: 'America/Chicago',
  OR: 'America/Los_Angeles',
  PA: 'America/New_York',
  RI: 'America/New_York',
  SC: 'America/New_York',
  SD: 'America/Chicago',
  TN: 'America/Chicago',
  TX: 'America/Chicago',
  UT: 'America/Denver',
  VT: 'America/New_York',
  VA: 'America/New_York',
  WA: 'America/Los_Angeles',
  WV: 'America/New_York',
  WI: 'America/Chicago',
  WY: 'America/Denver',
};

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      weekday: 'short',
    });
    formatters.set(tz, f);
  }
  return f;
}

export function isTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** The contact's zone: its own, its account's US state's, or the fallback. */
export function contactTimeZone(
  contact: Record<string, unknown> | null,
  account: Record<string, unknown> | null,
  fallback: string,
): string {
  const own = contact?.time_zone ?? account?.time_zone;
  if (typeof own === 'string' && isTimeZone(own)) return own;
  const state = typeof account?.state === 'string' ? account.state.trim().toUpperCase() : '';
  return STATE_TZ[state] ?? fallback;
}

const WD = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

export interface LocalTime {
  year: number;
  month: number;
  day: number;
  weekday: number;
  minutes: number;
  /** `YYYY-MM-DD` */
  date: string;
}

export function localTime(at: Date, tz: string): LocalTime {
  const parts = Object.fromEntries(
    formatter(tz)
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  const year = Number(parts.year);
  const month = Number(parts.month);
  const day = Number(parts.day);
  return {
    year,
    month,
    day,
    weekday: WD.indexOf(parts.weekday ?? ''),
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
    date: `${parts.year}-${parts.month}-${parts.day}`,
  };
}

/** The UTC instant of a local wall-clock time in `tz` (DST-safe to the minute, ambiguity → earlier). */
function fromLocal(year: number, month: number, day: number, minutes: number, tz: string): Date {
  const wall = Date.UTC(year, month - 1, day, Math.floor(minutes / 60), minutes % 60);
  let guess = wall;
  for (let i = 0; i < 3; i++) {
    const l = localTime(new Date(guess), tz);
    const seen = Date.UTC(l.year, l.month - 1, l.day, Math.floor(l.minutes / 60), l.minutes % 60);
    const diff = wall - seen;
    if (diff === 0) break;
    guess += diff;
  }
  return new Date(guess);
}

export function inWindow(at: Date, tz: string, w: SendWindow): boolean {
  const l = localTime(at, tz);
  return w.days.includes(l.weekday) && l.minutes >= w.from && l.minutes < w.to;
}

/** The first instant at or after `at` inside the window, local to `tz`. */
export function nextInWindow(at: Date, tz: string, w: SendWindow): Date {
  if (inWindow(at, tz, w)) return at;
  const l = localTime(at, tz);
  for (let d = 0; d <= 7; d++) {
    const base = new Date(Date.UTC(l.year, l.month - 1, l.day + d));
    const weekday = (l.weekday + d) % 7;
    if (!w.days.includes(weekday)) continue;
    const start = fromLocal(base.getUTCFullYear(), base.getUTCMonth() + 1, base.getUTCDate(), w.from, tz);
    if (start.getTime() >= at.getTime()) return start;
  }
  throw new Error('a send window with no day in it');
}

/** Local midnight of the day after `at`'s local day, in `tz`. */
export function nextLocalMidnight(at: Date, tz: string): Date {
  const l = localTime(at, tz);
  const d = new Date(Date.UTC(l.year, l.month - 1, l.day + 1));
  return fromLocal(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), 0, tz);
}
