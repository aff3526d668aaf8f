/**
 * Deployment-window arithmetic. Pure: only `Intl` (available in the Temporal workflow sandbox).
 * The current instant is always a parameter; nothing here reads the clock.
 */
import type { DeploymentWindow, IsoWeekday, TimeRange } from './types';

const DAY_NAMES = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'] as const;
const MINUTE = 60_000;
const DAY = 86_400_000;

/** Parses "9-17", "22-6", "09:30-17:15", "0-24". Returns an error message on bad input. */
export function parseTimeRange(text: string): TimeRange | string {
  const m = /^\s*(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?\s*$/.exec(text);
  if (!m) return `"${text}" is not an hour range; expected "H-H" or "HH:MM-HH:MM" in 24h time, e.g. "9-17" or "22-6"`;
  const start = Number(m[1]) * 60 + Number(m[2] ?? 0);
  const end = Number(m[3]) * 60 + Number(m[4] ?? 0);
  if (Number(m[2] ?? 0) > 59 || Number(m[4] ?? 0) > 59) return `"${text}": minutes must be 00-59`;
  if (start >= 1440) return `"${text}": start must be before 24:00`;
  if (end > 1440) return `"${text}": end must be at most 24`;
  if (start === end) return `"${text}": start and end are equal; use "0-24" for the whole day`;
  return { text, start, end };
}

/** Parses ["MON-FRI", "SUN", "FRI-MON"] into ISO weekdays (sorted, unique). */
export function parseDays(items: string[]): IsoWeekday[] | string {
  const set = new Set<IsoWeekday>();
  for (const item of items) {
    const parts = item.trim().toUpperCase().split('-').map((s) => s.trim());
    if (parts.length > 2 || parts.some((p) => p === '')) return `"${item}" is not a day or day range like "MON-FRI"`;
    const idx = parts.map((p) => DAY_NAMES.indexOf(p.slice(0, 3) as (typeof DAY_NAMES)[number]));
    const bad = parts.find((p, i) => idx[i] < 0 || !isDayName(p));
    if (bad !== undefined) return `"${item}": unknown day "${bad}"; use MON, TUE, WED, THU, FRI, SAT, SUN`;
    const [a, b = a] = idx;
    for (let i = a; ; i = (i + 1) % 7) {
      set.add((i + 1) as IsoWeekday);
      if (i === b) break;
    }
  }
  return [...set].sort((x, y) => x - y);
}

function isDayName(p: string): boolean {
  const full = ['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY', 'SUNDAY'];
  return (DAY_NAMES as readonly string[]).includes(p) || full.includes(p);
}

export function isValidTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function localParts(t: number, tz: string): LocalTime {
  const out: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(new Date(t))) {
    if (p.type !== 'literal') out[p.type] = Number(p.value);
  }
  return { year: out.year, month: out.month, day: out.day, hour: out.hour % 24, minute: out.minute, second: out.second };
}

/** Local wall-clock time expressed as if it were UTC, in ms. */
function wallMs(l: LocalTime): number {
  return Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second);
}

/** UTC offset of `tz` at instant t, in ms (local = utc + offset). */
function offsetAt(t: number, tz: string): number {
  const s = Math.floor(t / 1000) * 1000;
  return wallMs(localParts(s, tz)) - s;
}

/** ISO weekday of a wall-clock date (ms as-if-UTC). */
function weekdayOfWall(w: number): IsoWeekday {
  const d = new Date(w).getUTCDay(); // 0 = Sunday
  return (d === 0 ? 7 : d) as IsoWeekday;
}

/**
 * Instants at which local wall time `w` (ms as-if-UTC) occurs in `tz`. Two when the clock falls back
 * (ambiguous), one normally, and for a time skipped by a spring-forward gap the instant the gap ends
 * (the first instant whose local time is later than `w`).
 */
export function wallToInstants(w: number, tz: string): number[] {
  const before = offsetAt(w - DAY, tz);
  const after = offsetAt(w + DAY, tz);
  const found = new Set<number>();
  for (const o of [before, after]) {
    const u = w - o;
    if (offsetAt(u, tz) === o) found.add(u);
  }
  if (found.size > 0) return [...found].sort((a, b) => a - b);
  // In a gap: the transition lies between w - before and w - after (before < after when springing forward).
  let lo = w - Math.max(before, after);
  let hi = w - Math.min(before, after);
  const oLo = offsetAt(lo, tz);
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (mid <= lo) break;
    if (offsetAt(mid, tz) === oLo) lo = mid;
    else hi = mid;
  }
  return [hi];
}

/** Is the window open at instant t (epoch ms)? */
export function isWindowOpen(window: DeploymentWindow, t: number): boolean {
  const l = localParts(t, window.timezone);
  const minute = l.hour * 60 + l.minute;
  const wd = weekdayOfWall(Date.UTC(l.year, l.month - 1, l.day));
  const prev = (wd === 1 ? 7 : wd - 1) as IsoWeekday;
  const days = new Set(window.days);
  for (const r of window.hours) {
    if (r.start < r.end) {
      if (days.has(wd) && minute >= r.start && minute < r.end) return true;
    } else {
      if (days.has(wd) && minute >= r.start) return true;
      if (days.has(prev) && minute < r.end) return true;
    }
  }
  return false;
}

/**
 * The next instant (epoch ms, > t) at which the window opens, or undefined if it never does
 * (no days, or every opening falls into a DST gap for the next week). Call only when closed at t.
 */
export function nextWindowOpening(window: DeploymentWindow, t: number): number | undefined {
  const l = localParts(t, window.timezone);
  const today = Date.UTC(l.year, l.month - 1, l.day);
  const days = new Set(window.days);
  let best: number | undefined;
  for (let k = -1; k <= 8; k++) {
    const date = today + k * DAY;
    if (!days.has(weekdayOfWall(date))) continue;
    for (const r of window.hours) {
      for (const c of wallToInstants(date + r.start * MINUTE, window.timezone)) {
        if (c > t && (best === undefined || c < best) && isWindowOpen(window, c)) best = c;
      }
    }
  }
  return best;
}

/** "Mon 2026-03-30 09:00 Europe/Berlin" — for messages. */
export function formatLocal(t: number, tz: string): string {
  const l = localParts(t, tz);
  const wd = DAY_NAMES[weekdayOfWall(Date.UTC(l.year, l.month - 1, l.day)) - 1];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${wd} ${l.year}-${p(l.month)}-${p(l.day)} ${p(l.hour)}:${p(l.minute)} ${tz}`;
}

export function describeWindow(w: DeploymentWindow): string {
  return `${w.hours.map((h) => h.text).join(', ')} on ${compactDays(w.days)} (${w.timezone})`;
}

function compactDays(days: IsoWeekday[]): string {
  if (days.length === 7) return 'every day';
  return days.map((d) => DAY_NAMES[d - 1]).join(',');
}

/** Parses the context's `now` (ISO string or epoch ms). */
export function toEpochMs(now: string | number): number {
  const t = typeof now === 'number' ? now : Date.parse(now);
  if (!Number.isFinite(t)) throw new TypeError(`evaluating policies: invalid current time ${JSON.stringify(now)}`);
  return t;
}
