//! `compareTo` of `dialogueStats` (docs/api.md): every row gets the same group's figures in the
//! matching bucket of an earlier window. Local wall time moves back, in the request's zone:
//!
//! - `PREVIOUS_PERIOD`: by the window's own local length (its local end minus its local start:
//!   a day for TODAY even when it has 23 hours, 7 days for THIS_WEEK and LAST_7_DAYS); by one
//!   calendar month for THIS_MONTH and LAST_MONTH;
//! - `SAME_PERIOD_LAST_WEEK`: by 7 local days;
//! - `SAME_PERIOD_LAST_YEAR`: to the same local date a year earlier, or with WEEK buckets to the
//!   same weekday of the ISO week with the same number.
//!
//! The earlier window is the window's local start and end moved back. A bucket's match is the
//! bucket (of the same granularity) holding its local start moved back (its start within the
//! window, when the window begins inside it), counted within the earlier window. A local time
//! that did not exist there — February 29th, March 30th a month back, ISO week 53, or (for
//! buckets shorter than a day) the hour a DST change skipped — has no matching bucket: that
//! row's `previous` has zeros and an empty period at the first instant after the missing time.
use std::collections::HashMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Weekday};
use chrono_tz::Tz;

use super::request::StatsRequest;
use super::{GroupKey, StatsRow};
use crate::buckets::{self, local_instant, Granularity};
use crate::query::kpi::Measure;
use crate::query::period::Period;

/// Which earlier window the rows are compared with.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Comparison {
    /// The window of the same local length just before this one (the previous day, ISO week
    /// or month for those periods).
    PreviousPeriod,
    /// 7 local days earlier.
    SamePeriodLastWeek,
    /// The same local dates a year earlier (the same ISO week for WEEK buckets).
    SamePeriodLastYear,
}

/// How local wall time moves back.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Shift {
    /// By a local duration.
    Back(Duration),
    /// To the same day of the previous month.
    Month,
    /// To the same date of the previous year.
    Year,
    /// To the same weekday of the ISO week with the same number, a year earlier.
    IsoYear,
}

impl Shift {
    /// Where `local` moves back to, or `Err` with the first local time after the missing one
    /// when that date does not exist.
    fn apply(self, local: NaiveDateTime) -> Result<NaiveDateTime, NaiveDateTime> {
        let (date, time) = (local.date(), local.time());
        let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight");
        match self {
            Self::Back(by) => Ok(local - by),
            Self::Month => {
                let (y, m) = match date.month() {
                    1 => (date.year() - 1, 12),
                    m => (date.year(), m - 1),
                };
                NaiveDate::from_ymd_opt(y, m, date.day())
                    .map(|d| d.and_time(time))
                    // March 30th a month back: the month after February begins.
                    .ok_or_else(|| midnight(date.with_day(1).expect("day 1")))
            }
            Self::Year => NaiveDate::from_ymd_opt(date.year() - 1, date.month(), date.day())
                .map(|d| d.and_time(time))
                .ok_or_else(|| {
                    midnight(NaiveDate::from_ymd_opt(date.year() - 1, 3, 1).expect("March 1st"))
                }),
            Self::IsoYear => {
                let week = date.iso_week();
                NaiveDate::from_isoywd_opt(week.year() - 1, week.week(), date.weekday())
                    .map(|d| d.and_time(time))
                    // Week 53 of a year of 52 weeks: that year's weeks end where week 1 starts.
                    .ok_or_else(|| {
                        midnight(
                            NaiveDate::from_isoywd_opt(week.year(), 1, Weekday::Mon)
                                .expect("week 1"),
                        )
                    })
            }
        }
    }
}

fn local(zone: Tz, instant: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(instant)
        .unwrap_or_default()
        .with_timezone(&zone)
        .naive_local()
}

/// Whether the bucket length is below a day (a DST change can skip such a bucket).
fn sub_day(granularity: Granularity) -> bool {
    matches!(
        granularity,
        Granularity::FifteenMinutes | Granularity::ThirtyMinutes | Granularity::Hour
    )
}

impl StatsRequest {
    /// The earlier window `[from, to)` the rows are compared with, if they are.
    pub fn earlier_window(&self) -> Option<(i64, i64)> {
        Earlier::of(self).map(|e| (e.from, e.to))
    }
}

/// The earlier window of a request with `compareTo`, and how its buckets match.
#[derive(Clone, Debug)]
pub(super) struct Earlier {
    shift: Shift,
    zone: Tz,
    granularity: Granularity,
    /// The window being compared.
    window: (i64, i64),
    /// `[from, to)` of the earlier window.
    pub(super) from: i64,
    pub(super) to: i64,
}

impl Earlier {
    /// The earlier window of `request`, if it compares.
    pub(super) fn of(request: &StatsRequest) -> Option<Earlier> {
        let zone = request.zone;
        let shift = match request.compare? {
            Comparison::PreviousPeriod => match request.period {
                Some(Period::ThisMonth | Period::LastMonth) => Shift::Month,
                _ => Shift::Back(local(zone, request.to) - local(zone, request.from)),
            },
            Comparison::SamePeriodLastWeek => Shift::Back(Duration::days(7)),
            Comparison::SamePeriodLastYear if request.granularity == Granularity::Week => {
                Shift::IsoYear
            }
            Comparison::SamePeriodLastYear => Shift::Year,
        };
        let moved = |at: i64| {
            let to = shift.apply(local(zone, at)).unwrap_or_else(|after| after);
            local_instant(zone, to)
        };
        Some(Earlier {
            shift,
            zone,
            granularity: request.granularity,
            window: (request.from, request.to),
            from: moved(request.from),
            to: moved(request.to),
        })
    }

    /// The request for the earlier window: the same question, not ranked, not compared.
    pub(super) fn request(&self, request: &StatsRequest) -> StatsRequest {
        StatsRequest {
            from: self.from,
            to: self.to,
            compare: None,
            period: None,
            rank: Default::default(),
            ..request.clone()
        }
    }

    /// The earlier bucket matching the current bucket `period` (`None` for TOTAL): its bounds,
    /// or `Err` with the instant of an empty period when it has none.
    fn matching(&self, period: Option<(i64, i64)>) -> Result<Option<(i64, i64)>, i64> {
        let Some((start, _)) = period else {
            return Ok(None);
        };
        let start = local(self.zone, start.max(self.window.0));
        let moved = self
            .shift
            .apply(start)
            .map_err(|after| local_instant(self.zone, after))?;
        let exists = self.zone.from_local_datetime(&moved).earliest().is_some();
        let at = local_instant(self.zone, moved);
        if !exists && sub_day(self.granularity) {
            return Err(at);
        }
        Ok(buckets::bucket_at(self.zone, self.granularity, at))
    }

    /// Gives each of `rows` its `previous`: the row of `earlier` (the earlier window's rows)
    /// with the same group in the matching bucket, else a row of zeros for that bucket.
    pub(super) fn attach(
        &self,
        rows: &mut [StatsRow],
        earlier: Vec<StatsRow>,
        measures: &[Measure],
        percentiles: &[f64],
    ) {
        let slot = |key: &GroupKey, period: Option<(i64, i64)>| {
            let mut key = key.clone();
            key.bucket = period.map_or(0, |(start, _)| start);
            key
        };
        let found: HashMap<GroupKey, StatsRow> = earlier
            .into_iter()
            .map(|row| (slot(&row.key, row.period), row))
            .collect();
        for row in rows {
            let previous = match self.matching(row.period) {
                Ok(period) => found
                    .get(&slot(&row.key, period))
                    .cloned()
                    .unwrap_or_else(|| {
                        StatsRow::empty(slot(&row.key, period), period, measures, percentiles)
                    }),
                Err(at) => StatsRow::empty(
                    slot(&row.key, Some((at, at))),
                    Some((at, at)),
                    measures,
                    percentiles,
                ),
            };
            row.previous = Some(Box::new(previous));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buckets::Granularity as G;

    fn ms(text: &str) -> i64 {
        crate::time::parse_rfc3339_ms(text).unwrap()
    }

    fn earlier(
        zone: &str,
        granularity: G,
        from: &str,
        to: &str,
        compare: Comparison,
        period: Option<Period>,
    ) -> Earlier {
        let request = StatsRequest {
            from: ms(from),
            to: ms(to),
            zone: zone.parse().unwrap(),
            granularity,
            group_by: Vec::new(),
            filter: None,
            measures: Vec::new(),
            percentiles: Vec::new(),
            max_rows: 10,
            rank: Default::default(),
            compare: Some(compare),
            period,
        };
        Earlier::of(&request).unwrap()
    }

    #[test]
    fn the_previous_day_of_a_23_hour_day_is_24_hours_long() {
        // Amsterdam springs forward on 2026-03-29: that day has 23 hours, the 28th 24.
        let e = earlier(
            "Europe/Amsterdam",
            G::Hour,
            "2026-03-29T00:00:00+01:00",
            "2026-03-30T00:00:00+02:00",
            Comparison::PreviousPeriod,
            Some(Period::Today),
        );
        assert_eq!(
            (e.from, e.to),
            (
                ms("2026-03-28T00:00:00+01:00"),
                ms("2026-03-29T00:00:00+01:00")
            )
        );
        // 03:00 CEST (the first hour after the gap) matches 03:00 CET the day before.
        let three = ms("2026-03-29T03:00:00+02:00");
        assert_eq!(
            e.matching(Some((three, three + 3_600_000))),
            Ok(Some((
                ms("2026-03-28T03:00:00+01:00"),
                ms("2026-03-28T04:00:00+01:00")
            )))
        );
    }

    #[test]
    fn a_skipped_hour_has_no_match_and_a_repeated_hour_matches_once() {
        // Last week of 2026-04-05 02:00 is 2026-03-29 02:00, which Amsterdam skipped.
        let e = earlier(
            "Europe/Amsterdam",
            G::Hour,
            "2026-04-05T00:00:00+02:00",
            "2026-04-06T00:00:00+02:00",
            Comparison::SamePeriodLastWeek,
            None,
        );
        let two = ms("2026-04-05T02:00:00+02:00");
        let after_gap = ms("2026-03-29T03:00:00+02:00");
        assert_eq!(e.matching(Some((two, two + 3_600_000))), Err(after_gap));
        // Both 02:00 hours of 2026-10-25 (CEST, then CET) match 02:00 a week earlier.
        let e = earlier(
            "Europe/Amsterdam",
            G::Hour,
            "2026-10-25T00:00:00+02:00",
            "2026-10-26T00:00:00+01:00",
            Comparison::SamePeriodLastWeek,
            None,
        );
        let week_before = Ok(Some((
            ms("2026-10-18T02:00:00+02:00"),
            ms("2026-10-18T03:00:00+02:00"),
        )));
        for start in ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"] {
            assert_eq!(
                e.matching(Some((ms(start), ms(start) + 3_600_000))),
                week_before
            );
        }
        assert_eq!(
            (e.from, e.to),
            (
                ms("2026-10-18T00:00:00+02:00"),
                ms("2026-10-19T00:00:00+02:00")
            )
        );
    }

    #[test]
    fn months_and_years() {
        let e = earlier(
            "Asia/Kolkata",
            G::Day,
            "2026-03-01T00:00:00+05:30",
            "2026-04-01T00:00:00+05:30",
            Comparison::PreviousPeriod,
            Some(Period::ThisMonth),
        );
        assert_eq!(
            (e.from, e.to),
            (
                ms("2026-02-01T00:00:00+05:30"),
                ms("2026-03-01T00:00:00+05:30")
            )
        );
        // March 30th a month back does not exist: an empty period where March begins.
        let day = ms("2026-03-30T00:00:00+05:30");
        assert_eq!(
            e.matching(Some((day, day + 86_400_000))),
            Err(ms("2026-03-01T00:00:00+05:30"))
        );
        // The same window given as from/to: 31 local days before.
        let e = earlier(
            "Asia/Kolkata",
            G::Total,
            "2026-03-01T00:00:00+05:30",
            "2026-04-01T00:00:00+05:30",
            Comparison::PreviousPeriod,
            None,
        );
        assert_eq!(e.from, ms("2026-01-29T00:00:00+05:30"));
        assert_eq!(e.matching(None), Ok(None));
        // WEEK buckets a year back: the ISO week with the same number.
        let e = earlier(
            "UTC",
            G::Week,
            "2026-03-02T00:00:00Z",
            "2026-03-09T00:00:00Z",
            Comparison::SamePeriodLastYear,
            None,
        );
        // 2026-03-02 is Monday of week 10; week 10 of 2025 began on 2025-03-03.
        assert_eq!(
            (e.from, e.to),
            (ms("2025-03-03T00:00:00Z"), ms("2025-03-10T00:00:00Z"))
        );
        // Week 53 of 2026 has no week 53 in 2025.
        let monday = ms("2026-12-28T00:00:00Z");
        assert_eq!(
            e.matching(Some((monday, monday + 7 * 86_400_000))),
            Err(ms("2025-12-29T00:00:00Z"))
        );
        // February 29th a year back.
        let e = earlier(
            "UTC",
            G::Day,
            "2028-02-28T00:00:00Z",
            "2028-03-02T00:00:00Z",
            Comparison::SamePeriodLastYear,
            None,
        );
        let leap = ms("2028-02-29T00:00:00Z");
        assert_eq!(
            e.matching(Some((leap, leap + 86_400_000))),
            Err(ms("2027-03-01T00:00:00Z"))
        );
        assert_eq!(
            (e.from, e.to),
            (ms("2027-02-28T00:00:00Z"), ms("2027-03-02T00:00:00Z"))
        );
    }
}
