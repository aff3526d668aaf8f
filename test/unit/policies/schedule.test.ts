import assert from 'node:assert/strict';
import { isWindowOpen, nextWindowOpening, parseDays, parseTimeRange, wallToInstants } from '../../../policies/schedule';
import { windowOf } from './helpers';

const t = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe('policies/schedule: deployment windows', () => {
  describe('parseTimeRange', () => {
    it('accepts hour ranges, minutes, whole days and midnight-crossing ranges', () => {
      assert.deepEqual(parseTimeRange('9-17'), { text: '9-17', start: 540, end: 1020 });
      assert.deepEqual(parseTimeRange('09:30-17:15'), { text: '09:30-17:15', start: 570, end: 1035 });
      assert.deepEqual(parseTimeRange('0-24'), { text: '0-24', start: 0, end: 1440 });
      assert.deepEqual(parseTimeRange('22-6'), { text: '22-6', start: 1320, end: 360 });
    });
    it('rejects invalid hour strings with a reason', () => {
      for (const bad of ['25-3', '9', '9-9', 'abc', '9:60-10', '9-25', '-5', '24-2', 'nine-five', '9-17-18']) {
        const r = parseTimeRange(bad);
        assert.equal(typeof r, 'string', `${bad} should be rejected`);
        assert.match(r as string, new RegExp(bad.replace(/[-]/g, '\\-')));
      }
    });
  });

  describe('parseDays', () => {
    it('expands ranges, single days, full names and wrap-around ranges', () => {
      assert.deepEqual(parseDays(['MON-FRI']), [1, 2, 3, 4, 5]);
      assert.deepEqual(parseDays(['FRI-MON']), [1, 5, 6, 7]);
      assert.deepEqual(parseDays(['sun', 'WED']), [3, 7]);
      assert.deepEqual(parseDays(['Saturday']), [6]);
    });
    it('rejects unknown days', () => {
      assert.match(parseDays(['MON-FRY']) as string, /unknown day "FRY"/);
      assert.match(parseDays(['MON-TUE-WED']) as string, /not a day or day range/);
    });
  });

  describe('office hours in Europe/Berlin (9-17 MON-FRI)', () => {
    const w = windowOf(['9-17'], ['MON-FRI'], 'Europe/Berlin');
    it('is open on a weekday afternoon, closed at 17:00 (end exclusive) and at the weekend', () => {
      assert.equal(isWindowOpen(w, t('2026-03-27T12:00:00Z')), true); // Fri 13:00 CET
      assert.equal(isWindowOpen(w, t('2026-03-27T08:00:00Z')), true); // Fri 09:00 CET
      assert.equal(isWindowOpen(w, t('2026-03-27T07:59:59Z')), false);
      assert.equal(isWindowOpen(w, t('2026-03-27T16:00:00Z')), false); // Fri 17:00 CET
      assert.equal(isWindowOpen(w, t('2026-03-28T12:00:00Z')), false); // Sat
    });
    it('next opening after the weekend of the March DST change is 09:00 CEST = 07:00Z', () => {
      // Clocks go forward on Sunday 2026-03-29; Friday 09:00 was 08:00Z, Monday 09:00 is 07:00Z.
      assert.equal(iso(nextWindowOpening(w, t('2026-03-28T12:00:00Z'))), '2026-03-30T07:00:00.000Z');
    });
    it('next opening after the weekend of the October DST change is 09:00 CET = 08:00Z', () => {
      // Friday 18:00 CEST; clocks go back on Sunday 2026-10-25.
      assert.equal(iso(nextWindowOpening(w, t('2026-10-23T16:00:00Z'))), '2026-10-26T08:00:00.000Z');
    });
    it('before opening on the same day returns today', () => {
      assert.equal(iso(nextWindowOpening(w, t('2026-03-31T05:00:00Z'))), '2026-03-31T07:00:00.000Z');
    });
  });

  describe('a window starting inside the spring-forward gap (02:30-04 Europe/Berlin)', () => {
    const w = windowOf(['02:30-4'], ['MON-SUN'], 'Europe/Berlin');
    it('opens when the gap ends: 03:00 CEST = 01:00Z on 2026-03-29', () => {
      assert.deepEqual(wallToInstants(Date.UTC(2026, 2, 29, 2, 30), 'Europe/Berlin'), [t('2026-03-29T01:00:00Z')]);
      assert.equal(iso(nextWindowOpening(w, t('2026-03-29T00:30:00Z'))), '2026-03-29T01:00:00.000Z');
      assert.equal(isWindowOpen(w, t('2026-03-29T01:00:00Z')), true);
      assert.equal(isWindowOpen(w, t('2026-03-29T00:59:00Z')), false);
    });
  });

  describe('a window inside the repeated hour of the fall-back change (02:30-02:45 Europe/Berlin)', () => {
    const w = windowOf(['02:30-02:45'], ['SUN'], 'Europe/Berlin');
    it('opens twice; after the first (CEST) occurrence the next is the CET one', () => {
      assert.deepEqual(wallToInstants(Date.UTC(2026, 9, 25, 2, 30), 'Europe/Berlin'), [t('2026-10-25T00:30:00Z'), t('2026-10-25T01:30:00Z')]);
      assert.equal(iso(nextWindowOpening(w, t('2026-10-24T12:00:00Z'))), '2026-10-25T00:30:00.000Z');
      assert.equal(iso(nextWindowOpening(w, t('2026-10-25T00:50:00Z'))), '2026-10-25T01:30:00.000Z');
    });
  });

  describe('a window crossing midnight with wrapping days (22-6 FRI-MON, UTC)', () => {
    const w = windowOf(['22-6'], ['FRI-MON']);
    it('belongs to the day it starts on', () => {
      assert.equal(isWindowOpen(w, t('2026-03-27T22:00:00Z')), true); // Fri 22:00
      assert.equal(isWindowOpen(w, t('2026-03-28T03:00:00Z')), true); // Sat 03:00, started Fri
      assert.equal(isWindowOpen(w, t('2026-03-29T23:30:00Z')), true); // Sun 23:30 (wrap FRI-MON includes SUN)
      assert.equal(isWindowOpen(w, t('2026-03-31T05:59:00Z')), true); // Tue 05:59, started Mon
      assert.equal(isWindowOpen(w, t('2026-03-31T06:00:00Z')), false); // Tue 06:00, end exclusive
      assert.equal(isWindowOpen(w, t('2026-03-31T22:00:00Z')), false); // Tue 22:00: Tue not allowed
      assert.equal(isWindowOpen(w, t('2026-03-27T03:00:00Z')), false); // Fri 03:00: Thu not allowed
      assert.equal(isWindowOpen(w, t('2026-03-28T12:00:00Z')), false); // Sat noon
    });
    it('next opening from midweek is Friday 22:00', () => {
      assert.equal(iso(nextWindowOpening(w, t('2026-03-31T07:00:00Z'))), '2026-04-03T22:00:00.000Z');
    });
    it('next opening from Saturday noon is Saturday 22:00', () => {
      assert.equal(iso(nextWindowOpening(w, t('2026-03-28T12:00:00Z'))), '2026-03-28T22:00:00.000Z');
    });
  });

  describe('other time zones', () => {
    it('handles half-hour offsets (Asia/Kolkata)', () => {
      const w = windowOf(['9-17'], ['MON-FRI'], 'Asia/Kolkata');
      assert.equal(iso(nextWindowOpening(w, t('2026-03-30T02:00:00Z'))), '2026-03-30T03:30:00.000Z');
    });
    it('handles a midnight-crossing window across the US DST change (America/New_York, 23-1 SAT)', () => {
      // 2026-03-08 02:00 EST -> 03:00 EDT. Window opens Sat 2026-03-07 23:00 EST = 04:00Z, closes 01:00 EST = 06:00Z.
      const w = windowOf(['23-1'], ['SAT'], 'America/New_York');
      assert.equal(iso(nextWindowOpening(w, t('2026-03-07T12:00:00Z'))), '2026-03-08T04:00:00.000Z');
      assert.equal(isWindowOpen(w, t('2026-03-08T05:59:00Z')), true);
      assert.equal(isWindowOpen(w, t('2026-03-08T06:00:00Z')), false);
      // One week later (EDT): 23:00 EDT = 03:00Z.
      assert.equal(iso(nextWindowOpening(w, t('2026-03-08T12:00:00Z'))), '2026-03-15T03:00:00.000Z');
    });
    it('whole days: 0-24 on SAT-SUN', () => {
      const w = windowOf(['0-24'], ['SAT-SUN'], 'Europe/Berlin');
      assert.equal(isWindowOpen(w, t('2026-03-29T21:59:00Z')), true); // Sun 23:59 CEST
      assert.equal(isWindowOpen(w, t('2026-03-29T22:00:00Z')), false); // Mon 00:00 CEST
      assert.equal(iso(nextWindowOpening(w, t('2026-03-30T12:00:00Z'))), '2026-04-03T22:00:00.000Z'); // Sat 00:00 CEST
    });
  });
});
