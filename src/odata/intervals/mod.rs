//! `QueueIntervals`: contact-center KPIs per (interval × queue) for BI tools (docs/odata.md).
//! One entity per interval of 15, 30, 60 or 1440 minutes (`interval=`, aligned in `timeZone=`)
//! and queue with dialogues; its properties are the measures of the query core's KPI catalogue.
//! Every figure comes from the stats core (`TenantScope::dialogue_stats` grouped by queue, the
//! same call as `dialogueStats`, pre-aggregates included): the database aggregates, no dialogue
//! is read into the server.
//!
//! A request is answered in chunks of the window it asks for, walked in the requested order
//! (by time, or queue by queue), each chunk one stats call of at most `--max-stats-rows` rows,
//! until the page is full; the next link's skip token holds the last interval's key, and the
//! next page starts its walk there (a keyset, never an offset). The conditions on `queueId` go
//! to the database with the dialogues' filter; the whole `$filter` is then applied to the
//! computed intervals, so any combination means what it says.
mod model;
mod window;

use std::cmp::Ordering;
use std::collections::HashMap;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::errors::Failure;
use super::handlers::{Options, Request};
use super::json::{endpoint_members, json_response, Obj};
use super::parser::{self, ENDPOINT_PROPS};
use insights_core::buckets::{Bucketing, Granularity};
use insights_core::query::{
    DialogueField, Dimension, Filter, Measure, Op, Operand, Slot, StatsRequest, StatsRow,
    TenantScope,
};
#[cfg(test)]
use model::COLUMNS;
use model::FIELDS;
pub(super) use model::PROPS;
use window::{Cut, Order, Window};

/// The entity set's name.
pub(super) const SET: &str = "QueueIntervals";

/// Longest `in` list of queue ids one chunk sends (the core's limit is 5,000).
const QUEUE_BATCH: usize = 1_000;

/// One request's question, ready to walk.
struct Question {
    cut: Cut,
    window: Window,
    filter: Option<Filter<usize>>,
    /// What the dialogues must pass (the conditions on `queueId`).
    pushed: Option<Filter<DialogueField>>,
    order: Order,
    measures: Vec<Measure>,
    max_rows: usize,
}

fn key(row: &StatsRow) -> (i64, &str) {
    (
        row.period.map_or(0, |(start, _)| start),
        row.key.queue_id.as_deref().unwrap_or(""),
    )
}

impl Question {
    fn new(options: &Options, selected: &[usize], max_rows: usize) -> Result<Self, Failure> {
        let cut = Cut::parse(&options.custom)?;
        let filter = options
            .filter
            .as_deref()
            .map(|f| parser::parse_filter(f, &PROPS, &FIELDS))
            .transpose()?;
        let window = Window::of(filter.as_ref(), &cut)?;
        let order = Order::parse(options.orderby.as_deref())?;
        let pushed = filter.as_ref().and_then(window::queue_condition);
        let mut read = selected.to_vec();
        if let Some(f) = &filter {
            properties(f, &mut read);
        }
        let measures = model::measures(read);
        Ok(Question {
            cut,
            window,
            filter,
            pushed,
            order,
            measures,
            max_rows: max_rows.max(1),
        })
    }

    /// One stats call: the intervals × queues of `[from, to)` (whole intervals), optionally of
    /// the listed queues only, in the requested order; the dialogues without a queue left out.
    async fn stats(
        &self,
        scope: &TenantScope,
        from: i64,
        to: i64,
        queues: Option<&[String]>,
    ) -> Result<Vec<StatsRow>, Failure> {
        if from >= to {
            return Ok(Vec::new());
        }
        let request = StatsRequest {
            from,
            to,
            zone: self.cut.zone,
            granularity: self.cut.granularity,
            group_by: vec![Dimension::Queue],
            filter: self.dialogue_filter(queues),
            measures: self.measures.clone(),
            percentiles: Vec::new(),
            max_rows: self.max_rows,
            rank: Default::default(),
            compare: None,
            period: None,
        };
        let mut rows: Vec<StatsRow> = scope
            .dialogue_stats(&request)
            .await?
            .into_iter()
            .filter(|row| row.key.queue_id.is_some())
            .collect();
        rows.sort_by(|a, b| self.order.cmp(key(a), key(b)));
        Ok(rows)
    }

    fn dialogue_filter(&self, queues: Option<&[String]>) -> Option<Filter<DialogueField>> {
        let listed = queues.map(|queues| {
            Filter::Is(
                DialogueField::QueueId,
                Op::In(queues.iter().cloned().map(Operand::Text).collect()),
            )
        });
        match (self.pushed.clone(), listed) {
            (Some(pushed), Some(listed)) => Some(pushed.and(listed)),
            (pushed, listed) => pushed.or(listed),
        }
    }

    /// The queues with dialogues around `[from, to)` that the filter's queue conditions allow,
    /// in the order of the walk: one TOTAL stats call grouped by queue over the whole UTC days
    /// holding the range, which the daily pre-aggregate answers without reading dialogues. A
    /// queue with no dialogue in the range itself only costs a chunk that comes back empty.
    async fn queues(
        &self,
        scope: &TenantScope,
        from: i64,
        to: i64,
    ) -> Result<Vec<String>, Failure> {
        if from >= to {
            return Ok(Vec::new());
        }
        const DAY_MS: i64 = 86_400_000;
        let request = StatsRequest {
            from: from.div_euclid(DAY_MS) * DAY_MS,
            to: (to - 1).div_euclid(DAY_MS) * DAY_MS + DAY_MS,
            zone: self.cut.zone,
            granularity: Granularity::Total,
            group_by: vec![Dimension::Queue],
            filter: self.pushed.clone(),
            measures: vec![Measure::Dialogues],
            percentiles: Vec::new(),
            max_rows: self.max_rows,
            rank: Default::default(),
            compare: None,
            period: None,
        };
        let mut queues: Vec<String> = scope
            .dialogue_stats(&request)
            .await?
            .into_iter()
            .filter_map(|row| row.key.queue_id)
            .collect();
        queues.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        if self.order.queue_desc {
            queues.reverse();
        }
        Ok(queues)
    }

    /// Visits the intervals that pass the filter, in order, from just after `after` (a key),
    /// until `visit` returns false. `want` is how many the caller expects to take (chunks are
    /// sized for it); `None` for all.
    async fn walk(
        &self,
        scope: &TenantScope,
        after: Option<&(i64, String)>,
        want: Option<usize>,
        visit: &mut (dyn FnMut(StatsRow) -> bool + Send),
    ) -> Result<(), Failure> {
        if self.window.is_empty() {
            return Ok(());
        }
        let mut step = |row: StatsRow| -> Option<bool> {
            if let Some((start, queue)) = after {
                if self.order.cmp(key(&row), (*start, queue)) != Ordering::Greater {
                    return None;
                }
            }
            if let Some(filter) = &self.filter {
                if !model::passes(filter, &row) {
                    return None;
                }
            }
            Some(visit(row))
        };
        if self.order.queue_first {
            self.walk_by_queue(scope, after, want, &mut step).await
        } else {
            let (from, to) = self.narrowed(after, None);
            let queues = self.queues(scope, from, to).await?.len();
            if queues > 0 {
                self.walk_in_time(scope, from, to, None, queues, want, &mut step)
                    .await?;
            }
            Ok(())
        }
    }

    /// The window, starting (in the walk's time order) at the interval of `after` when the
    /// walk resumes in it: in time-first order always, queue-first only in the token's queue.
    fn narrowed(&self, after: Option<&(i64, String)>, queue: Option<&str>) -> (i64, i64) {
        let Window { mut from, mut to } = self.window;
        if let Some((start, token_queue)) = after {
            if queue.is_none_or(|q| q == token_queue) {
                if self.order.start_desc {
                    to = to.min(self.cut.interval_at(*start).1);
                } else {
                    from = from.max(*start);
                }
            }
        }
        (from, to)
    }

    /// Time-first: chunks of whole intervals of `[from, to)` in the walk's time order, each
    /// at most `max_rows` rows (`queues` at most per interval), growing while they come back
    /// short. `only` restricts the dialogues to some queues.
    #[allow(clippy::too_many_arguments)]
    async fn walk_in_time(
        &self,
        scope: &TenantScope,
        from: i64,
        to: i64,
        only: Option<&[String]>,
        queues: usize,
        want: Option<usize>,
        step: &mut (dyn FnMut(StatsRow) -> Option<bool> + Send),
    ) -> Result<bool, Failure> {
        let queues = queues.max(1);
        let cap = (self.max_rows / queues).max(1);
        // Enough intervals for the rows wanted (and one more) when every queue has dialogues
        // in each; more chunks follow when they come back short.
        let mut length = match want {
            Some(n) => (n.saturating_add(1)).div_ceil(queues).clamp(1, cap),
            None => cap,
        } as i64;
        let cap = cap as i64;
        let mut cursor = if self.order.start_desc { to } else { from };
        loop {
            let (lo, hi) = if self.order.start_desc {
                (self.cut.before(cursor, length).max(from), cursor)
            } else {
                (cursor, self.cut.after(cursor, length).min(to))
            };
            for row in self.stats(scope, lo, hi, only).await? {
                if step(row) == Some(false) {
                    return Ok(false);
                }
            }
            cursor = if self.order.start_desc { lo } else { hi };
            if cursor <= from || cursor >= to {
                return Ok(true);
            }
            length = (length * 2).min(cap);
        }
    }

    /// Queue-first: the queues in order, several per stats call over the whole window when
    /// their intervals fit in `max_rows`, else each walked in time.
    async fn walk_by_queue(
        &self,
        scope: &TenantScope,
        after: Option<&(i64, String)>,
        want: Option<usize>,
        step: &mut (dyn FnMut(StatsRow) -> Option<bool> + Send),
    ) -> Result<(), Failure> {
        let mut queues = self.queues(scope, self.window.from, self.window.to).await?;
        if let Some((_, token_queue)) = after {
            let descending = self.order.queue_desc;
            queues.retain(|q| match q.as_bytes().cmp(token_queue.as_bytes()) {
                Ordering::Less => descending,
                Ordering::Greater => !descending,
                Ordering::Equal => true,
            });
        }
        let intervals = Bucketing::count(
            self.cut.zone,
            self.cut.granularity,
            self.window.from,
            self.window.to,
        )
        .max(1) as usize;
        let fits = self.max_rows / intervals;
        if fits == 0 {
            for queue in &queues {
                let (from, to) = self.narrowed(after, Some(queue));
                let only = std::slice::from_ref(queue);
                if !self
                    .walk_in_time(scope, from, to, Some(only), 1, want, step)
                    .await?
                {
                    return Ok(());
                }
            }
            return Ok(());
        }
        let cap = fits.min(QUEUE_BATCH);
        let mut batch = match want {
            Some(n) => (n + 1).div_ceil(intervals).clamp(1, cap),
            None => cap,
        };
        let mut at = 0;
        while at < queues.len() {
            let chunk = &queues[at..(at + batch).min(queues.len())];
            let (from, to) = (self.window.from, self.window.to);
            for row in self.stats(scope, from, to, Some(chunk)).await? {
                if step(row) == Some(false) {
                    return Ok(());
                }
            }
            at += chunk.len();
            batch = (batch * 2).min(cap);
        }
        Ok(())
    }

    /// How many intervals pass the filter.
    async fn count(&self, scope: &TenantScope) -> Result<u64, Failure> {
        let mut n = 0u64;
        self.walk(scope, None, None, &mut |_| {
            n += 1;
            true
        })
        .await?;
        Ok(n)
    }
}

/// The properties a filter reads.
fn properties(filter: &Filter<usize>, out: &mut Vec<usize>) {
    match filter {
        Filter::All(list) | Filter::Any(list) => list.iter().for_each(|f| properties(f, out)),
        Filter::Not(inner) => properties(inner, out),
        Filter::Is(index, _) | Filter::Related(index, _) => {
            if !out.contains(index) {
                out.push(*index)
            }
        }
    }
}

/// `$expand` on intervals: `queue` (or `*`), the one navigation property.
fn expand(options: &Options) -> Result<bool, Failure> {
    let Some(text) = options.expand.as_deref() else {
        return Ok(false);
    };
    if text.trim() == "*" {
        return Ok(true);
    }
    let slots = parser::parse_expand(text)?;
    if slots.iter().any(|s| *s != Slot::Queue) {
        return Err(Failure::bad(
            "`$expand`: a QueueInterval has one navigation property, `queue`",
        ));
    }
    Ok(!slots.is_empty())
}

fn context(base: &str, select: &Option<Vec<usize>>, expanded: bool, suffix: &str) -> String {
    let mut items: Vec<String> = match select {
        Some(indexes) => indexes.iter().map(|i| PROPS[*i].name.to_string()).collect(),
        None if !expanded => Vec::new(),
        None => vec!["*".into()],
    };
    if expanded {
        items.push("queue()".into());
    }
    if items.is_empty() {
        format!("{base}/$metadata#{SET}{suffix}")
    } else {
        format!("{base}/$metadata#{SET}({}){suffix}", items.join(","))
    }
}

impl Request<'_> {
    /// `QueueIntervals`, `QueueIntervals/$count` and `QueueIntervals(intervalStart=…,queueId='…')`.
    pub(super) async fn intervals(
        &self,
        key: Option<&str>,
        rest: Option<&str>,
        options: &Options,
    ) -> Result<Response, Failure> {
        match (key, rest) {
            (None, None | Some("")) => self.interval_collection(options).await,
            (None, Some("$count")) => {
                let question = Question::new(options, &[], self.max_stats_rows)?;
                let n = question.count(self.scope).await?;
                Ok(([(header::CONTENT_TYPE, "text/plain")], n.to_string()).into_response())
            }
            (Some(key), None | Some("")) => self.interval_entity(key, options).await,
            (Some(_), Some(segment)) => Err(Failure::new(
                StatusCode::NOT_IMPLEMENTED,
                format!("the path segment `{segment}` after a key is not supported: use $expand"),
            )),
            (None, Some(segment)) => Err(Failure::not_found(format!(
                "`{SET}/{segment}` is not a resource of this service"
            ))),
        }
    }

    async fn interval_collection(&self, options: &Options) -> Result<Response, Failure> {
        let top = options.top()?;
        let skip = options.skip()?;
        let want_count = options.count()?;
        let select = options.select(&PROPS)?;
        let selected = select.clone().unwrap_or_else(|| (0..PROPS.len()).collect());
        let expanded = expand(options)?;
        let question = Question::new(options, &selected, self.max_stats_rows)?;
        let after = options
            .skiptoken
            .as_deref()
            .map(|t| window::read_token(t, &question.cut, &question.order))
            .transpose()?;
        let size = top.map_or(self.page_size, |t| t.min(self.page_size as u64) as usize);

        let mut rows: Vec<StatsRow> = Vec::new();
        let (mut skipped, mut more) = (0u64, false);
        if size > 0 {
            let want = (skip as usize).saturating_add(size);
            question
                .walk(self.scope, after.as_ref(), Some(want), &mut |row| {
                    if skipped < skip {
                        skipped += 1;
                        true
                    } else if rows.len() < size {
                        rows.push(row);
                        true
                    } else {
                        more = true;
                        false
                    }
                })
                .await?;
        }
        let count = match want_count {
            // The walk went to the end from the beginning: it saw them all.
            true if size > 0 && !more && after.is_none() => Some(skipped + rows.len() as u64),
            true => Some(question.count(self.scope).await?),
            false => None,
        };
        let endpoints = if expanded {
            let mut ids: Vec<String> = rows.iter().filter_map(|r| r.key.queue_id.clone()).collect();
            ids.sort();
            ids.dedup();
            self.scope.endpoints_by_ids(&ids).await?
        } else {
            Vec::new()
        };
        let by_id: HashMap<&str, _> = endpoints.iter().map(|e| (e.id.as_str(), e)).collect();
        let entities: Vec<String> = rows
            .iter()
            .map(|row| {
                let mut obj = Obj::new();
                members(
                    &mut obj,
                    row,
                    &selected,
                    expanded,
                    &by_id,
                    question.cut.zone,
                );
                obj.finish()
            })
            .collect();

        let top_left = top.map(|t| t.saturating_sub(rows.len() as u64));
        let next = match rows.last() {
            Some(last) if more && top_left != Some(0) => {
                let (start, queue) = key(last);
                let token = window::token(&question.cut, &question.order, start, queue);
                let custom = [
                    ("interval", question.cut.minutes.to_string()),
                    ("timeZone", question.cut.zone.name().to_string()),
                ];
                Some(options.next_link(self.base, SET, top_left, &token, &custom))
            }
            _ => None,
        };
        let mut body = Obj::new();
        body.put(
            "@odata.context",
            &json!(context(self.base, &select, expanded, "")),
        );
        if let Some(count) = count {
            body.put("@odata.count", &json!(count));
        }
        body.put_raw("value", &format!("[{}]", entities.join(",")));
        if let Some(next) = next {
            body.put("@odata.nextLink", &json!(next));
        }
        Ok(json_response(body.finish()))
    }

    /// One interval × queue by its key; 404 when the queue had no dialogue in it, or the start
    /// is not an interval start of the request's cut.
    async fn interval_entity(&self, key: &str, options: &Options) -> Result<Response, Failure> {
        let (start, queue) = parser::parse_interval_key(key)?;
        let cut = Cut::parse(&options.custom)?;
        let select = options.select(&PROPS)?;
        let selected = select.clone().unwrap_or_else(|| (0..PROPS.len()).collect());
        let expanded = expand(options)?;
        let not_found = || {
            Failure::not_found(format!(
                "there is no QueueInterval with intervalStart {} and queueId '{queue}' (interval={}, timeZone={})",
                model::format_in(cut.zone, start),
                cut.minutes,
                cut.zone.name()
            ))
        };
        let (from, to) = cut.interval_at(start);
        if from != start {
            return Err(not_found());
        }
        let question = Question {
            cut,
            window: Window { from, to },
            filter: None,
            pushed: Some(Filter::Is(
                DialogueField::QueueId,
                Op::Eq(Operand::Text(queue.clone())),
            )),
            order: Order::parse(None)?,
            measures: model::measures(selected.iter().copied()),
            max_rows: self.max_stats_rows.max(1),
        };
        let rows = question.stats(self.scope, from, to, None).await?;
        let row = rows.first().ok_or_else(not_found)?;
        let endpoints = if expanded {
            self.scope
                .endpoints_by_ids(std::slice::from_ref(&queue))
                .await?
        } else {
            Vec::new()
        };
        let by_id: HashMap<&str, _> = endpoints.iter().map(|e| (e.id.as_str(), e)).collect();
        let mut body = Obj::new();
        body.put(
            "@odata.context",
            &json!(context(self.base, &select, expanded, "/$entity")),
        );
        members(&mut body, row, &selected, expanded, &by_id, cut.zone);
        Ok(json_response(body.finish()))
    }
}

/// One interval's members: the selected properties, then the expanded queue.
fn members(
    obj: &mut Obj,
    row: &StatsRow,
    selected: &[usize],
    expanded: bool,
    endpoints: &HashMap<&str, &entity::endpoint::Model>,
    zone: chrono_tz::Tz,
) {
    model::members(obj, row, selected, zone);
    if expanded {
        let all: Vec<usize> = (0..ENDPOINT_PROPS.len()).collect();
        match row.key.queue_id.as_deref().and_then(|id| endpoints.get(id)) {
            Some(e) => {
                let mut inner = Obj::new();
                endpoint_members(&mut inner, e, &all);
                obj.put_raw("queue", &inner.finish());
            }
            None => obj.put("queue", &Value::Null),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_lists_every_property_in_order() {
        let xml = super::super::metadata();
        let mut at = xml.find(r#"<EntityType Name="QueueInterval">"#).unwrap();
        for (prop, _) in COLUMNS.iter() {
            let found = xml[at..]
                .find(&format!(r#"<Property Name="{}" "#, prop.name))
                .unwrap_or_else(|| panic!("{} is not in $metadata", prop.name));
            at += found;
        }
        assert!(xml.contains(
            r#"<Key><PropertyRef Name="intervalStart"/><PropertyRef Name="queueId"/></Key>"#
        ));
    }
}
