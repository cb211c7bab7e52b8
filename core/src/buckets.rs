//! Time buckets aligned to local time in an IANA zone (docs/api.md), expressed so that SQL can
//! compute them with integer arithmetic on both SQLite (no time-zone support) and PostgreSQL.
//!
//! The range is cut into segments of constant UTC offset (DST changes split it). Within a
//! segment, local wall time is `instant + offset`, so fixed-length buckets (15/30/60 minutes,
//! days, ISO weeks) are integer divisions of it; months, which are not, use their boundary
//! instants. The SQL yields a bucket key; [`Bucketing::period`] turns a key back into its exact
//! `periodStart`/`periodEnd`.
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// Size of the time buckets.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Granularity {
    /// Quarter hours of local time.
    FifteenMinutes,
    /// Half hours of local time.
    ThirtyMinutes,
    /// Hours of local time.
    Hour,
    /// Local calendar days (23 or 25 hours on DST change days).
    Day,
    /// ISO weeks, starting Monday at local midnight.
    Week,
    /// Calendar months, starting on the 1st at local midnight.
    Month,
    /// One bucket for the whole range.
    Total,
}

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// 1970-01-01 was a Thursday; day `d` belongs to ISO week `(d + 3) div 7`.
const WEEK_SHIFT_DAYS: i64 = 3;

/// How the dialogues of `[from, to)` are put into buckets.
#[derive(Debug, Clone)]
pub struct Bucketing {
    pub zone: Tz,
    pub granularity: Granularity,
    pub from: i64,
    pub to: i64,
    /// (start instant, UTC offset in ms) of each constant-offset segment, in order.
    segments: Vec<(i64, i64)>,
    /// Month boundaries (instants) covering the range, for MONTH.
    months: Vec<i64>,
}

/// UTC offset of `zone` at an instant, in milliseconds.
pub fn offset_ms(zone: Tz, instant: i64) -> i64 {
    let utc = DateTime::<Utc>::from_timestamp_millis(instant).unwrap_or_default();
    zone.offset_from_utc_datetime(&utc.naive_utc())
        .fix()
        .local_minus_utc() as i64
        * 1000
}

/// The instant local time `local` names in `zone`: the earlier one when it occurs twice, the
/// first instant after the gap when a DST change skips it.
pub fn local_instant(zone: Tz, local: NaiveDateTime) -> i64 {
    let mut probe = local;
    for _ in 0..(4 * 60) {
        if let Some(t) = zone.from_local_datetime(&probe).earliest() {
            return t.timestamp_millis();
        }
        probe += Duration::minutes(1);
    }
    local.and_utc().timestamp_millis()
}

pub(crate) fn local_midnight(zone: Tz, date: NaiveDate) -> i64 {
    local_instant(zone, date.and_hms_opt(0, 0, 0).expect("midnight"))
}

fn epoch_day(date: NaiveDate) -> i64 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days()
}

fn date_of_epoch_day(day: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + Duration::days(day)
}

pub(crate) fn local_date(zone: Tz, instant: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(instant)
        .unwrap_or_default()
        .with_timezone(&zone)
        .date_naive()
}

pub(crate) fn first_of_next_month(date: NaiveDate) -> NaiveDate {
    let (y, m) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).expect("first of month")
}

/// The bounds `[start, end)` of the bucket of `granularity` that holds `instant` in `zone`: the
/// bucket the SQL key ([`Bucketing::key_sql`]) puts a dialogue starting at `instant` into, with
/// the bounds [`Bucketing::period`] gives it. `None` for TOTAL, which has no buckets of its own.
pub fn bucket_at(zone: Tz, granularity: Granularity, instant: i64) -> Option<(i64, i64)> {
    let unit = match granularity {
        Granularity::FifteenMinutes => 15 * MINUTE,
        Granularity::ThirtyMinutes => 30 * MINUTE,
        Granularity::Hour => 60 * MINUTE,
        Granularity::Total => return None,
        Granularity::Day | Granularity::Week | Granularity::Month => {
            let date = local_date(zone, instant);
            let first = match granularity {
                Granularity::Day => date,
                Granularity::Week => {
                    date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
                }
                _ => date.with_day(1).expect("day 1"),
            };
            let next = match granularity {
                Granularity::Day => first + Duration::days(1),
                Granularity::Week => first + Duration::days(7),
                _ => first_of_next_month(first),
            };
            return Some((local_midnight(zone, first), local_midnight(zone, next)));
        }
    };
    // Local wall time is `instant + offset`; the bucket starts at its multiple of the unit.
    let offset = offset_ms(zone, instant);
    let start = (instant + offset).div_euclid(unit) * unit - offset;
    Some((start, start + unit))
}

impl Bucketing {
    pub fn new(zone: Tz, granularity: Granularity, from: i64, to: i64) -> Self {
        let mut bucketing = Self {
            zone,
            granularity,
            from,
            to,
            segments: Vec::new(),
            months: Vec::new(),
        };
        if granularity != Granularity::Total {
            bucketing.segments = Self::segments(zone, from, to);
        }
        if granularity == Granularity::Month {
            let mut month = local_date(zone, from).with_day(1).expect("day 1");
            loop {
                let start = local_midnight(zone, month);
                bucketing.months.push(start);
                if start >= to {
                    break;
                }
                month = first_of_next_month(month);
            }
        }
        bucketing
    }

    /// Cuts `[from, to)` where the zone's offset changes (found by stepping, then bisecting).
    fn segments(zone: Tz, from: i64, to: i64) -> Vec<(i64, i64)> {
        // Offset changes are weeks apart in every zone's rules, so weekly steps find each one
        // (and keep ranges of centuries cheap).
        const STEP: i64 = 7 * DAY;
        let mut segments = vec![(from, offset_ms(zone, from))];
        let mut at = from;
        while at < to {
            let next = (at + STEP).min(to);
            let current = segments.last().expect("a segment").1;
            if offset_ms(zone, next) != current {
                let (mut lo, mut hi) = (at, next);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if offset_ms(zone, mid) == current {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                segments.push((hi, offset_ms(zone, hi)));
            }
            at = next;
        }
        segments
    }

    /// How many buckets `[from, to)` spans, without building the month list (cheap for any
    /// range): the guard against answers too large to return.
    pub fn count(zone: Tz, granularity: Granularity, from: i64, to: i64) -> u64 {
        if to <= from {
            return 0;
        }
        match granularity {
            Granularity::Total => 1,
            Granularity::Month => {
                let month = |at| {
                    let date = local_date(zone, at);
                    date.year() as i64 * 12 + date.month0() as i64
                };
                (month(to - 1) - month(from) + 1) as u64
            }
            _ => Self::new(zone, granularity, from, to).bucket_count(),
        }
    }

    /// How many buckets the range spans: exactly the number of keys the SQL can produce.
    pub fn bucket_count(&self) -> u64 {
        if self.to <= self.from {
            return 0;
        }
        let last = self.to - 1;
        match self.granularity {
            Granularity::Total => 1,
            Granularity::Month => self.months.len().saturating_sub(1).max(1) as u64,
            Granularity::Day => (self.day_key(last) - self.day_key(self.from) + 1) as u64,
            Granularity::Week => {
                let week = |at| (self.day_key(at) + WEEK_SHIFT_DAYS).div_euclid(7);
                (week(last) - week(self.from) + 1) as u64
            }
            _ => {
                // Per constant-offset segment the keys are an arithmetic sequence; a bucket that
                // straddles a segment boundary is one key on both sides.
                let unit = self.unit_ms();
                let mut count = 0u64;
                let mut previous_last: Option<i64> = None;
                for (index, (start, offset)) in self.segments.iter().enumerate() {
                    let end = self.segments.get(index + 1).map_or(self.to, |next| next.0);
                    let key = |at: i64| (at + offset).div_euclid(unit) * unit - offset;
                    let (first, last) = (key(*start), key(end - 1));
                    count += ((last - first) / unit + 1) as u64;
                    if previous_last == Some(first) {
                        count -= 1;
                    }
                    previous_last = Some(last);
                }
                count
            }
        }
    }

    /// Whether every bucket boundary inside the range falls on a multiple of `slot_ms` (UTC
    /// epoch): then a slot `[s, s + slot_ms)` lies in one bucket, and [`Self::key_sql`] of the
    /// slot's start is the key of all its instants. TOTAL has no boundaries; the others need
    /// the unit, every offset in force and every offset change to be multiples of the slot
    /// (not so for a historic LMT offset such as +00:17:30).
    pub fn aligned_to(&self, slot_ms: i64) -> bool {
        if self.granularity == Granularity::Total {
            return true;
        }
        self.unit_ms() % slot_ms == 0
            && self
                .segments
                .iter()
                .enumerate()
                .all(|(index, (start, offset))| {
                    offset % slot_ms == 0 && (index == 0 || start % slot_ms == 0)
                })
    }

    /// The local day number of an instant (as the SQL computes it).
    fn day_key(&self, at: i64) -> i64 {
        epoch_day(local_date(self.zone, at))
    }

    fn unit_ms(&self) -> i64 {
        match self.granularity {
            Granularity::FifteenMinutes => 15 * MINUTE,
            Granularity::ThirtyMinutes => 30 * MINUTE,
            Granularity::Hour => 60 * MINUTE,
            Granularity::Day | Granularity::Week | Granularity::Month | Granularity::Total => DAY,
        }
    }

    /// The SQL offset (ms) in force at the instant in `column`.
    fn offset_sql(&self, column: &str) -> String {
        if self.segments.len() == 1 {
            return self.segments[0].1.to_string();
        }
        let mut sql = String::from("(CASE");
        for pair in self.segments.windows(2) {
            sql.push_str(&format!(
                " WHEN {column} < {} THEN {}",
                pair[1].0, pair[0].1
            ));
        }
        sql.push_str(&format!(
            " ELSE {} END)",
            self.segments.last().expect("a segment").1
        ));
        sql
    }

    /// Floor division that stays right for instants before 1970.
    fn floor_div(x: &str, unit: i64) -> String {
        let shift = unit * 100_000_000;
        format!("((({x}) + {shift}) / {unit} - {})", shift / unit)
    }

    /// SQL for the bucket key of the instant in `column`: a 64-bit integer on both databases.
    pub fn key_sql(&self, column: &str) -> String {
        let key = match self.granularity {
            Granularity::Total => "0".to_string(),
            // The key is the bucket's start instant: distinct even for the hour a DST change repeats.
            Granularity::FifteenMinutes | Granularity::ThirtyMinutes | Granularity::Hour => {
                let unit = self.unit_ms();
                let offset = self.offset_sql(column);
                format!(
                    "({} * {unit} - {offset})",
                    Self::floor_div(&format!("{column} + {offset}"), unit)
                )
            }
            Granularity::Day => {
                Self::floor_div(&format!("{column} + {}", self.offset_sql(column)), DAY)
            }
            Granularity::Week => {
                let day = Self::floor_div(&format!("{column} + {}", self.offset_sql(column)), DAY);
                Self::floor_div(&format!("{day} + {WEEK_SHIFT_DAYS}"), 7)
            }
            Granularity::Month => {
                let mut sql = String::from("(CASE");
                for (index, boundary) in self.months.iter().enumerate().skip(1) {
                    sql.push_str(&format!(" WHEN {column} < {boundary} THEN {}", index - 1));
                }
                sql.push_str(&format!(" ELSE {} END)", self.months.len()));
                sql
            }
        };
        format!("CAST({key} AS BIGINT)")
    }

    /// The exact bounds of the bucket a key names (None for TOTAL).
    pub fn period(&self, key: i64) -> Option<(i64, i64)> {
        match self.granularity {
            Granularity::Total => None,
            Granularity::FifteenMinutes | Granularity::ThirtyMinutes | Granularity::Hour => {
                Some((key, key + self.unit_ms()))
            }
            Granularity::Day => {
                let date = date_of_epoch_day(key);
                Some((
                    local_midnight(self.zone, date),
                    local_midnight(self.zone, date + Duration::days(1)),
                ))
            }
            Granularity::Week => {
                let monday = date_of_epoch_day(key * 7 - WEEK_SHIFT_DAYS);
                Some((
                    local_midnight(self.zone, monday),
                    local_midnight(self.zone, monday + Duration::days(7)),
                ))
            }
            Granularity::Month => {
                let index = key.max(0) as usize;
                let start = *self.months.get(index)?;
                let end = match self.months.get(index + 1) {
                    Some(end) => *end,
                    None => {
                        local_midnight(self.zone, first_of_next_month(local_date(self.zone, start)))
                    }
                };
                Some((start, end))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        crate::time::parse_rfc3339_ms(text).unwrap()
    }

    #[test]
    fn amsterdam_spring_forward_splits_the_range() {
        let b = Bucketing::new(
            chrono_tz::Europe::Amsterdam,
            Granularity::Day,
            ms("2026-03-28T00:00:00Z"),
            ms("2026-03-31T00:00:00Z"),
        );
        assert_eq!(
            b.segments,
            vec![
                (ms("2026-03-28T00:00:00Z"), 3_600_000),
                (ms("2026-03-29T01:00:00Z"), 7_200_000)
            ]
        );
        let day = epoch_day(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap());
        assert_eq!(
            b.period(day),
            Some((ms("2026-03-28T23:00:00Z"), ms("2026-03-29T22:00:00Z")))
        );
    }

    #[test]
    fn bucket_at_agrees_with_the_keys_periods_across_offset_changes() {
        let zones = [
            chrono_tz::UTC,
            chrono_tz::Europe::Amsterdam,
            chrono_tz::Asia::Kolkata,
            chrono_tz::America::St_Johns,
            chrono_tz::Australia::Lord_Howe,
        ];
        let grains = [
            Granularity::FifteenMinutes,
            Granularity::ThirtyMinutes,
            Granularity::Hour,
            Granularity::Day,
            Granularity::Week,
        ];
        // Around both of Amsterdam's changes of 2026 (and other zones' nearby dates), every
        // 7 minutes: the bucket holds the instant, and it is the period of the instant's key
        // as the SQL computes it (the key formulas, evaluated here in integers).
        for zone in zones {
            for granularity in grains {
                for (from, to) in [
                    (ms("2026-03-27T00:00:00Z"), ms("2026-04-07T00:00:00Z")),
                    (ms("2026-10-23T00:00:00Z"), ms("2026-11-03T00:00:00Z")),
                ] {
                    let b = Bucketing::new(zone, granularity, from, to);
                    let mut t = from;
                    while t < to {
                        let (start, end) = bucket_at(zone, granularity, t).unwrap();
                        assert!(start <= t && t < end, "{zone} {granularity:?} {t}");
                        let offset = offset_ms(zone, t);
                        let day = (t + offset).div_euclid(DAY);
                        let key = match granularity {
                            Granularity::Day => day,
                            Granularity::Week => (day + WEEK_SHIFT_DAYS).div_euclid(7),
                            _ => {
                                let unit = b.unit_ms();
                                (t + offset).div_euclid(unit) * unit - offset
                            }
                        };
                        assert_eq!(
                            b.period(key),
                            Some((start, end)),
                            "{zone} {granularity:?} {t}"
                        );
                        t += 7 * MINUTE;
                    }
                }
            }
        }
        assert_eq!(bucket_at(chrono_tz::UTC, Granularity::Total, 0), None);
        assert_eq!(
            bucket_at(
                chrono_tz::Asia::Kolkata,
                Granularity::Hour,
                ms("2026-03-02T10:10:00Z")
            ),
            Some((ms("2026-03-02T09:30:00Z"), ms("2026-03-02T10:30:00Z")))
        );
    }

    #[test]
    fn bucket_at_one_instant_is_the_bucket_the_sql_names_months_included() {
        let zone = chrono_tz::Europe::Amsterdam;
        let (from, to) = (ms("2026-03-27T00:00:00Z"), ms("2026-04-02T00:00:00Z"));
        for granularity in [
            Granularity::FifteenMinutes,
            Granularity::Hour,
            Granularity::Day,
            Granularity::Week,
            Granularity::Month,
        ] {
            let b = Bucketing::new(zone, granularity, from, to);
            let mut at = from;
            while at < to {
                // The key the SQL computes, here by its definition per granularity.
                let (start, end) = bucket_at(zone, granularity, at).unwrap();
                assert!(start <= at && at < end, "{granularity:?} {at}");
                let key = match granularity {
                    Granularity::Day => epoch_day(local_date(zone, at)),
                    Granularity::Week => {
                        (epoch_day(local_date(zone, at)) + WEEK_SHIFT_DAYS).div_euclid(7)
                    }
                    Granularity::Month => {
                        let month = |t| {
                            let d = local_date(zone, t);
                            d.year() as i64 * 12 + d.month0() as i64
                        };
                        month(at) - month(from)
                    }
                    _ => start,
                };
                assert_eq!(b.period(key), Some((start, end)), "{granularity:?} {at}");
                at += 7 * MINUTE;
            }
        }
        assert_eq!(bucket_at(zone, Granularity::Total, from), None);
    }

    #[test]
    fn iso_weeks_start_monday() {
        let b = Bucketing::new(
            chrono_tz::UTC,
            Granularity::Week,
            ms("2026-03-01T00:00:00Z"),
            ms("2026-04-01T00:00:00Z"),
        );
        // 2026-03-04 is a Wednesday: its week started Monday 2026-03-02.
        let day = epoch_day(NaiveDate::from_ymd_opt(2026, 3, 4).unwrap());
        let key = (day + WEEK_SHIFT_DAYS).div_euclid(7);
        assert_eq!(
            b.period(key),
            Some((ms("2026-03-02T00:00:00Z"), ms("2026-03-09T00:00:00Z")))
        );
    }
}
