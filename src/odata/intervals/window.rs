//! What a `QueueIntervals` request asks the stats core: the cut (`interval`, `timeZone`), the
//! window of dialogue start times its `$filter` bounds `intervalStart` to (at most
//! [`MAX_SPAN_DAYS`]), the part of the filter the database can apply to the dialogues (the
//! conditions on `queueId`), the order, and the skip token.
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono_tz::Tz;

use super::model::{PROPS, QUEUE, START};
use super::Failure;
use insights_core::buckets::{bucket_at, Granularity};
use insights_core::query::{DialogueField, Filter, Op, Operand};

/// The longest window a `$filter` on `intervalStart` may span.
pub(crate) const MAX_SPAN_DAYS: i64 = 400;
const DAY_MS: i64 = 86_400_000;

/// The custom query options: interval length and the zone intervals are aligned in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cut {
    pub minutes: u32,
    pub granularity: Granularity,
    pub zone: Tz,
}

impl Cut {
    /// `interval=15|30|60|1440` (default 15), `timeZone=<IANA name>` (default UTC).
    pub(crate) fn parse(custom: &[(String, String)]) -> Result<Self, Failure> {
        let mut interval: Option<&str> = None;
        let mut zone: Option<&str> = None;
        for (key, value) in custom {
            let slot = if key.eq_ignore_ascii_case("interval") {
                &mut interval
            } else if key.eq_ignore_ascii_case("timeZone") {
                &mut zone
            } else {
                continue;
            };
            if slot.is_some() {
                return Err(Failure::bad(format!(
                    "the query option `{key}` is given twice"
                )));
            }
            *slot = Some(value);
        }
        let (minutes, granularity) = match interval.map(str::trim).unwrap_or("15") {
            "15" => (15, Granularity::FifteenMinutes),
            "30" => (30, Granularity::ThirtyMinutes),
            "60" => (60, Granularity::Hour),
            "1440" => (1440, Granularity::Day),
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err(Failure::bad(format!(
                    "`interval` must be 15, 30, 60 or 1440 (minutes), not `{shown}`"
                )));
            }
        };
        let name = zone.map(str::trim).unwrap_or("UTC");
        let zone = Tz::from_str(name).map_err(|_| {
            let shown: String = name.chars().take(60).collect();
            Failure::bad(format!(
                "`timeZone`: `{shown}` is not an IANA time zone name (e.g. Europe/Amsterdam, UTC)"
            ))
        })?;
        Ok(Cut {
            minutes,
            granularity,
            zone,
        })
    }

    /// `[start, end)` of the interval holding `instant`.
    pub(crate) fn interval_at(&self, instant: i64) -> (i64, i64) {
        bucket_at(self.zone, self.granularity, instant).expect("intervals are never TOTAL")
    }

    /// The first interval start at or after `instant`.
    fn ceil(&self, instant: i64) -> i64 {
        let (start, end) = self.interval_at(instant);
        if start == instant {
            start
        } else {
            end
        }
    }

    /// An interval start about `n` intervals after the interval start `from` (at least the next
    /// one): chunks of a walk need whole intervals, not an exact count of them.
    pub(crate) fn after(&self, from: i64, n: i64) -> i64 {
        let unit = i64::from(self.minutes) * 60_000;
        let target = from.saturating_add(n.saturating_mul(unit));
        let start = self.interval_at(target).0;
        if start > from {
            start
        } else {
            self.interval_at(from).1
        }
    }

    /// An interval start about `n` intervals before the interval start `to` (at least the one
    /// before).
    pub(crate) fn before(&self, to: i64, n: i64) -> i64 {
        let unit = i64::from(self.minutes) * 60_000;
        let start = self
            .interval_at(to.saturating_sub(n.saturating_mul(unit)))
            .0;
        if start < to {
            start
        } else {
            self.interval_at(to - 1).0
        }
    }
}

/// A range of instants: `[from, to)`, each end open when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    from: Option<i64>,
    to: Option<i64>,
}

const EVERYTHING: Range = Range {
    from: None,
    to: None,
};

impl Range {
    fn and(self, other: Range) -> Range {
        let max = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let min = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Range {
            from: max(self.from, other.from),
            to: min(self.to, other.to),
        }
    }

    fn or(self, other: Range) -> Range {
        let lower = self.from.zip(other.from).map(|(a, b)| a.min(b));
        let upper = self.to.zip(other.to).map(|(a, b)| a.max(b));
        Range {
            from: lower,
            to: upper,
        }
    }
}

/// The values of `intervalStart` that can pass `filter`, as a range that holds all of them
/// (instants are whole milliseconds, so `gt t` is `ge t + 1`). Conditions under `not`, `ne` and
/// comparisons on other properties do not narrow it.
fn start_range(filter: &Filter<usize>) -> Range {
    match filter {
        Filter::All(list) => list.iter().map(start_range).fold(EVERYTHING, Range::and),
        Filter::Any(list) => list
            .iter()
            .map(start_range)
            .reduce(Range::or)
            .unwrap_or(EVERYTHING),
        Filter::Is(START, op) => {
            let at = |o: &Operand| match o {
                Operand::Instant(t) => Some(*t),
                _ => None,
            };
            match op {
                Op::Gte(o) => Range {
                    from: at(o),
                    to: None,
                },
                Op::Gt(o) => Range {
                    from: at(o).map(|t| t + 1),
                    to: None,
                },
                Op::Lt(o) => Range {
                    from: None,
                    to: at(o),
                },
                Op::Lte(o) => Range {
                    from: None,
                    to: at(o).map(|t| t + 1),
                },
                Op::Eq(o) => Range {
                    from: at(o),
                    to: at(o).map(|t| t + 1),
                },
                Op::In(list) => {
                    let all: Vec<i64> = list.iter().filter_map(at).collect();
                    Range {
                        from: all.iter().min().copied(),
                        to: all.iter().max().map(|t| t + 1),
                    }
                }
                _ => EVERYTHING,
            }
        }
        _ => EVERYTHING,
    }
}

/// The dialogue start times a request covers: the intervals whose start the `$filter` allows,
/// whole. Empty when the filter's bounds cross.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub from: i64,
    pub to: i64,
}

impl Window {
    /// The window of a `$filter`: it must bound `intervalStart` below (`ge`, `gt`, `eq`) and
    /// above (`lt`, `le`, `eq`), at most [`MAX_SPAN_DAYS`] apart; otherwise a 400 naming the
    /// limit.
    pub(crate) fn of(filter: Option<&Filter<usize>>, cut: &Cut) -> Result<Window, Failure> {
        let range = filter.map_or(EVERYTHING, start_range);
        let (Some(from), Some(to)) = (range.from, range.to) else {
            return Err(Failure::bad(format!(
                "`$filter` must bound `intervalStart` from below (ge, gt) and above (lt, le), at most {MAX_SPAN_DAYS} days apart, \
                 e.g. $filter=intervalStart ge 2026-03-01T00:00:00Z and intervalStart lt 2026-03-02T00:00:00Z"
            )));
        };
        if to.saturating_sub(from) > MAX_SPAN_DAYS * DAY_MS {
            return Err(Failure::bad(format!(
                "`$filter`: the bounds on `intervalStart` span more than {MAX_SPAN_DAYS} days, the most one request may cover; \
                 ask for the range in parts"
            )));
        }
        // Intervals starting in [from, to): from the first start at or after `from` to the
        // first start at or after `to`.
        let (from, to) = (cut.ceil(from), cut.ceil(to));
        Ok(Window {
            from,
            to: to.max(from),
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.from >= self.to
    }
}

/// The part of `filter` the dialogues must pass whatever the rest says: its conditions on
/// `queueId`, as a filter on the dialogues' `queueId` (the rest of the filter is applied to
/// the computed intervals). `None` when it does not restrict the queues.
pub(crate) fn queue_condition(filter: &Filter<usize>) -> Option<Filter<DialogueField>> {
    fn only_queue(filter: &Filter<usize>) -> bool {
        match filter {
            Filter::All(list) | Filter::Any(list) => list.iter().all(only_queue),
            Filter::Not(inner) => only_queue(inner),
            Filter::Is(index, _) | Filter::Related(index, _) => *index == QUEUE,
        }
    }
    match filter {
        Filter::All(list) => {
            let parts: Vec<_> = list.iter().filter_map(queue_condition).collect();
            match parts.len() {
                0 => None,
                1 => parts.into_iter().next(),
                _ => Some(Filter::All(parts)),
            }
        }
        // Each branch must restrict the queues for the whole to restrict them.
        Filter::Any(list) => list
            .iter()
            .map(queue_condition)
            .collect::<Option<Vec<_>>>()
            .map(Filter::Any),
        Filter::Not(_) if only_queue(filter) => {
            filter.try_map(&|_| Some(DialogueField::QueueId)).ok()
        }
        Filter::Is(QUEUE, op) => Some(Filter::Is(DialogueField::QueueId, op.clone())),
        _ => None,
    }
}

/// The order of the intervals: which key comes first, and each key's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Order {
    pub queue_first: bool,
    pub start_desc: bool,
    pub queue_desc: bool,
}

impl Order {
    /// From `$orderby` (keys `intervalStart` and `queueId`; other properties 501). A key left
    /// out comes last, in the direction of the one given. Default: `intervalStart, queueId`.
    pub(crate) fn parse(text: Option<&str>) -> Result<Order, Failure> {
        let mut order = Order {
            queue_first: false,
            start_desc: false,
            queue_desc: false,
        };
        let Some(text) = text else {
            return Ok(order);
        };
        let keys = super::super::parser::parse_orderby(text, &PROPS)?;
        for (n, (index, descending, position)) in keys.iter().enumerate() {
            match *index {
                START => order.start_desc = *descending,
                QUEUE => order.queue_desc = *descending,
                other => {
                    return Err(Failure::new(
                        axum::http::StatusCode::NOT_IMPLEMENTED,
                        format!(
                            "`$orderby` at position {position}: ordering by `{}` is not supported (intervalStart, queueId)",
                            PROPS[other].name
                        ),
                    ))
                }
            }
            if n == 0 {
                order.queue_first = *index == QUEUE;
            }
        }
        if keys.len() == 1 {
            let descending = keys[0].1;
            order.start_desc = descending;
            order.queue_desc = descending;
        }
        Ok(order)
    }

    /// The order of two intervals' keys (start, queue); queue ids compare by their bytes.
    pub(crate) fn cmp(&self, a: (i64, &str), b: (i64, &str)) -> std::cmp::Ordering {
        let by_start = if self.start_desc {
            b.0.cmp(&a.0)
        } else {
            a.0.cmp(&b.0)
        };
        let by_queue = if self.queue_desc {
            b.1.as_bytes().cmp(a.1.as_bytes())
        } else {
            a.1.as_bytes().cmp(b.1.as_bytes())
        };
        if self.queue_first {
            by_queue.then(by_start)
        } else {
            by_start.then(by_queue)
        }
    }

    fn code(&self) -> String {
        format!(
            "{}{}{}",
            if self.queue_first { "q" } else { "s" },
            if self.start_desc { "d" } else { "a" },
            if self.queue_desc { "d" } else { "a" }
        )
    }
}

/// The skip token of a next link: the key of the page's last interval, bound to the cut and the
/// order it was walked in.
pub(crate) fn token(cut: &Cut, order: &Order, start: i64, queue: &str) -> String {
    let text = format!(
        "i1|{}|{}|{}|{start}|{queue}",
        cut.minutes,
        cut.zone.name(),
        order.code()
    );
    URL_SAFE_NO_PAD.encode(text)
}

/// The key a skip token holds; a token from another cut or order, or not ours, is a 400.
pub(crate) fn read_token(text: &str, cut: &Cut, order: &Order) -> Result<(i64, String), Failure> {
    let invalid = || {
        Failure::bad(
            "`$skiptoken` is not a skip token of this request: use the @odata.nextLink as given",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(6, '|');
    let mut next = || parts.next().ok_or_else(invalid);
    if next()? != "i1" {
        return Err(invalid());
    }
    let (minutes, zone, code) = (next()?, next()?, next()?);
    if minutes != cut.minutes.to_string() || zone != cut.zone.name() || code != order.code() {
        return Err(Failure::bad(
            "`$skiptoken` belongs to another `interval`, `timeZone` or `$orderby`: use the @odata.nextLink as given",
        ));
    }
    let start = next()?.parse::<i64>().map_err(|_| invalid())?;
    let queue = next()?.to_string();
    Ok((start, queue))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::intervals::model::FIELDS;
    use crate::odata::parser::parse_filter;

    fn ms(text: &str) -> i64 {
        insights_core::time::parse_rfc3339_ms(text).unwrap()
    }

    fn cut(minutes: &str, zone: &str) -> Cut {
        Cut::parse(&[
            ("interval".into(), minutes.into()),
            ("timeZone".into(), zone.into()),
        ])
        .unwrap()
    }

    fn window(text: &str, cut: &Cut) -> Result<Window, Failure> {
        let filter = parse_filter(text, &PROPS, &FIELDS).unwrap();
        Window::of(Some(&filter), cut)
    }

    #[test]
    fn bounds_become_whole_intervals() {
        let utc = cut("15", "UTC");
        assert_eq!(
            window(
                "intervalStart ge 2026-03-01T00:00:00Z and intervalStart lt 2026-03-02T00:00:00Z",
                &utc
            )
            .unwrap(),
            Window {
                from: ms("2026-03-01T00:00:00Z"),
                to: ms("2026-03-02T00:00:00Z")
            }
        );
        // gt and le on a boundary, and bounds inside intervals.
        assert_eq!(
            window(
                "intervalStart gt 2026-03-01T00:00:00Z and intervalStart le 2026-03-01T01:00:00Z",
                &utc
            )
            .unwrap(),
            Window {
                from: ms("2026-03-01T00:15:00Z"),
                to: ms("2026-03-01T01:15:00Z")
            }
        );
        assert_eq!(
            window(
                "intervalStart ge 2026-03-01T00:05:00Z and intervalStart lt 2026-03-01T00:40:00Z",
                &utc
            )
            .unwrap(),
            Window {
                from: ms("2026-03-01T00:15:00Z"),
                to: ms("2026-03-01T00:45:00Z")
            }
        );
        // Days in Amsterdam: local midnights, whatever offset the literal has.
        let day = cut("1440", "Europe/Amsterdam");
        assert_eq!(
            window(
                "intervalStart ge 2026-03-28T00:00:00+01:00 and intervalStart lt 2026-03-30T00:00:00+02:00",
                &day
            )
            .unwrap(),
            Window {
                from: ms("2026-03-27T23:00:00Z"),
                to: ms("2026-03-29T22:00:00Z")
            }
        );
        assert_eq!(
            window("intervalStart eq 2026-03-01T10:00:00Z", &utc).unwrap(),
            Window {
                from: ms("2026-03-01T10:00:00Z"),
                to: ms("2026-03-01T10:15:00Z")
            }
        );
        assert!(window(
            "intervalStart ge 2026-03-02T00:00:00Z and intervalStart lt 2026-03-01T00:00:00Z",
            &utc
        )
        .unwrap()
        .is_empty());
    }

    #[test]
    fn a_filter_without_both_bounds_or_too_wide_is_refused_naming_the_limit() {
        let utc = cut("60", "UTC");
        for text in [
            "intervalStart ge 2026-03-01T00:00:00Z",
            "intervalStart lt 2026-03-01T00:00:00Z",
            "queueId eq 'q-1'",
            "not (intervalStart lt 2026-03-01T00:00:00Z) and intervalStart lt 2026-03-02T00:00:00Z",
            "intervalStart ge 2026-03-01T00:00:00Z or intervalStart lt 2026-03-02T00:00:00Z",
            "intervalStart ge 2025-01-01T00:00:00Z and intervalStart lt 2026-03-01T00:00:00Z",
        ] {
            let message = format!("{:?}", window(text, &utc).unwrap_err());
            assert!(message.contains("400 days"), "{text}: {message}");
        }
        assert!(Window::of(None, &utc).is_err());
        // 400 days exactly is allowed; or-ed ranges are covered by their hull.
        assert!(window(
            "intervalStart ge 2025-01-01T00:00:00Z and intervalStart lt 2026-02-05T00:00:00Z",
            &utc
        )
        .is_ok());
        assert_eq!(
            window(
                "(intervalStart ge 2026-03-01T00:00:00Z and intervalStart lt 2026-03-02T00:00:00Z) or intervalStart eq 2026-03-05T10:00:00Z",
                &utc
            )
            .unwrap(),
            Window {
                from: ms("2026-03-01T00:00:00Z"),
                to: ms("2026-03-05T11:00:00Z")
            }
        );
    }

    #[test]
    fn queue_conditions_reach_the_dialogues_only_where_they_must_hold() {
        let q = |text: &str| queue_condition(&parse_filter(text, &PROPS, &FIELDS).unwrap());
        let is = |op: Op| Filter::Is(DialogueField::QueueId, op);
        let text = |s: &str| Operand::Text(s.into());
        assert_eq!(
            q("intervalStart ge 2026-03-01T00:00:00Z and queueId eq 'a'"),
            Some(is(Op::Eq(text("a"))))
        );
        assert_eq!(
            q("queueId in ('a','b') and (offered gt 3 or queueId eq 'c')"),
            Some(is(Op::In(vec![text("a"), text("b")])))
        );
        assert_eq!(
            q("queueId eq 'a' or queueId eq 'b'"),
            Some(Filter::Any(vec![
                is(Op::Eq(text("a"))),
                is(Op::Eq(text("b")))
            ]))
        );
        assert_eq!(q("queueId eq 'a' or offered gt 1"), None);
        assert_eq!(
            q("not (queueId eq 'a')"),
            Some(Filter::Not(Box::new(is(Op::Eq(text("a"))))))
        );
        assert_eq!(q("not (queueId eq 'a' and offered gt 1)"), None);
    }

    #[test]
    fn orders_and_tokens() {
        let o = Order::parse(Some("queueId desc")).unwrap();
        assert_eq!(
            o,
            Order {
                queue_first: true,
                start_desc: true,
                queue_desc: true
            }
        );
        let o2 = Order::parse(Some("intervalStart desc, queueId")).unwrap();
        assert_eq!(
            o2,
            Order {
                queue_first: false,
                start_desc: true,
                queue_desc: false
            }
        );
        assert!(Order::parse(Some("offered")).is_err());
        let c = cut("30", "Asia/Kolkata");
        let t = token(&c, &o2, 1_772_442_000_000, "q|1");
        assert_eq!(
            read_token(&t, &c, &o2).unwrap(),
            (1_772_442_000_000, "q|1".into())
        );
        assert!(read_token(&t, &c, &o).is_err());
        assert!(read_token(&t, &cut("15", "Asia/Kolkata"), &o2).is_err());
        assert!(read_token("nonsense", &c, &o2).is_err());
    }

    #[test]
    fn custom_options_are_checked() {
        assert!(Cut::parse(&[("interval".into(), "20".into())]).is_err());
        assert!(Cut::parse(&[("timeZone".into(), "Mars/Base".into())]).is_err());
        let default = Cut::parse(&[]).unwrap();
        assert_eq!((default.minutes, default.zone), (15, chrono_tz::UTC));
    }
}
