//! Dialogues: pages in any order with keyset cursors, counts and single look-ups, each one SQL
//! statement that selects only the columns the caller will read and joins the endpoints it will
//! show (so a page with its queue and agent is one round trip, not one plus a batch).
use std::collections::HashSet;

use entity::{dialogue, endpoint, Direction, EndpointRole, Outcome};
use sea_orm::{
    ColumnTrait, DbBackend, DbErr, Iden, QueryFilter, QueryResult, QuerySelect, QueryTrait, Select,
    Statement,
};

use super::filter::{DialogueField, Filter};
use super::page::{self, KeyKind, KeyValue, PageArgs, PageInfo, PageLimits, SortKey};
use super::TenantScope;
use crate::error::{ApiError, ApiResult, Arg, Wording};

/// The endpoint slots of a dialogue: its relations to endpoints, each held by an id field.
/// They are also the relation filters (`DialogueFilter.ivr` ... `agent`,
/// [`Filter::Related`](super::Filter::Related) on the slot's field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    Ivr,
    Queue,
    Customer,
    Agent,
}

impl Slot {
    pub const ALL: [Slot; 4] = [Slot::Ivr, Slot::Queue, Slot::Customer, Slot::Agent];

    /// The dialogue's column holding this slot's endpoint id.
    pub fn field(self) -> DialogueField {
        match self {
            Slot::Ivr => DialogueField::IvrId,
            Slot::Queue => DialogueField::QueueId,
            Slot::Customer => DialogueField::CustomerId,
            Slot::Agent => DialogueField::AgentId,
        }
    }

    /// The relation's name (as GraphQL and OData spell it).
    pub fn name(self) -> &'static str {
        match self {
            Slot::Ivr => "ivr",
            Slot::Queue => "queue",
            Slot::Customer => "customer",
            Slot::Agent => "agent",
        }
    }

    /// The slot an endpoint of `role` takes.
    pub fn of_role(role: EndpointRole) -> Slot {
        match role {
            EndpointRole::Ivr => Slot::Ivr,
            EndpointRole::Queue => Slot::Queue,
            EndpointRole::Customer => Slot::Customer,
            EndpointRole::Agent => Slot::Agent,
        }
    }

    pub fn id(self, d: &dialogue::Model) -> Option<&String> {
        match self {
            Slot::Ivr => d.ivr_id.as_ref(),
            Slot::Queue => d.queue_id.as_ref(),
            Slot::Customer => d.customer_id.as_ref(),
            Slot::Agent => d.agent_id.as_ref(),
        }
    }
}

/// What of a dialogue the caller will read: the fields (the id is always read) and the
/// endpoints to join. Fields not named hold their type's default in the returned models.
#[derive(Debug, Clone, Default)]
pub struct DialogueSelection {
    pub fields: Vec<DialogueField>,
    pub endpoints: Vec<Slot>,
}

/// What dialogues can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogueOrderField {
    StartTimestamp,
    EndTimestamp,
    OrderNumber,
    QueueDuration,
    SessionDuration,
    InitialTalkDuration,
    /// The id alone (OData's stable default order; not offered in GraphQL). As the last key it
    /// is its own tie-breaker.
    Id,
}

impl DialogueOrderField {
    /// The name in cursors and messages (as GraphQL spells it).
    pub fn name(self) -> &'static str {
        match self {
            Self::StartTimestamp => "START_TIMESTAMP",
            Self::EndTimestamp => "END_TIMESTAMP",
            Self::OrderNumber => "ORDER_NUMBER",
            Self::QueueDuration => "QUEUE_DURATION",
            Self::SessionDuration => "SESSION_DURATION",
            Self::InitialTalkDuration => "INITIAL_TALK_DURATION",
            Self::Id => "ID",
        }
    }

    pub fn field(self) -> DialogueField {
        match self {
            Self::StartTimestamp => DialogueField::StartTimestamp,
            Self::EndTimestamp => DialogueField::EndTimestamp,
            Self::OrderNumber => DialogueField::OrderNumber,
            Self::QueueDuration => DialogueField::QueueDuration,
            Self::SessionDuration => DialogueField::SessionDuration,
            Self::InitialTalkDuration => DialogueField::InitialTalkDuration,
            Self::Id => DialogueField::Id,
        }
    }

    fn key_value(self, d: &dialogue::Model) -> KeyValue {
        match self {
            Self::StartTimestamp => KeyValue::Int(d.start_timestamp_ms),
            Self::EndTimestamp => d.end_timestamp_ms.into(),
            Self::OrderNumber => KeyValue::Int(d.order_number as i64),
            Self::QueueDuration => d.queue_duration_in_sec.into(),
            Self::SessionDuration => d.session_duration_in_sec.into(),
            Self::InitialTalkDuration => d.initial_talk_duration_in_sec.into(),
            Self::Id => KeyValue::Text(d.id.clone()),
        }
    }
}

/// One key of a dialogue order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialogueOrder {
    pub field: DialogueOrderField,
    pub descending: bool,
}

/// The requested order (default: newest first), each field at most once.
fn order(requested: &[DialogueOrder]) -> ApiResult<Vec<DialogueOrder>> {
    if requested.is_empty() {
        return Ok(vec![DialogueOrder {
            field: DialogueOrderField::StartTimestamp,
            descending: true,
        }]);
    }
    for (i, entry) in requested.iter().enumerate() {
        if requested[..i]
            .iter()
            .any(|prior| prior.field == entry.field)
        {
            return Err(ApiError::bad_input(
                Wording::arg(Arg::OrderBy).then(format!(" names {} twice", entry.field.name())),
            ));
        }
    }
    Ok(requested.to_vec())
}

/// The sort keys of an order, with `id` as the final tie-breaker in the direction of the last
/// entry.
fn sort_keys(order: &[DialogueOrder]) -> Vec<SortKey<dialogue::Column>> {
    use super::filter::Field;
    let mut keys: Vec<_> = order
        .iter()
        .map(|o| {
            let field = o.field.field();
            SortKey {
                col: field.db_column(),
                name: o.field.name(),
                nullable: field.nullable(),
                kind: match o.field {
                    DialogueOrderField::StartTimestamp
                    | DialogueOrderField::EndTimestamp
                    | DialogueOrderField::OrderNumber => KeyKind::Int,
                    DialogueOrderField::Id => KeyKind::Text,
                    _ => KeyKind::Float,
                },
                descending: o.descending,
            }
        })
        .collect();
    if ends_with_id(order) {
        return keys;
    }
    let last_desc = keys.last().is_some_and(|k| k.descending);
    keys.push(SortKey {
        col: dialogue::Column::Id,
        name: "ID",
        nullable: false,
        kind: KeyKind::Text,
        descending: last_desc,
    });
    keys
}

/// Whether `id` is among the keys already, so it needs no tie-breaker (the id is unique: keys
/// after it never decide anything).
fn ends_with_id(order: &[DialogueOrder]) -> bool {
    order.iter().any(|o| o.field == DialogueOrderField::Id)
}

/// A request for one page of dialogues.
#[derive(Debug, Clone, Default)]
pub struct DialogueListRequest {
    pub filter: Option<Filter<DialogueField>>,
    /// Sort keys, most significant first; empty means newest first.
    pub order: Vec<DialogueOrder>,
    pub page: PageArgs,
    pub selection: DialogueSelection,
}

/// A page of dialogues, and the endpoints the selection joined.
#[derive(Debug, Clone)]
pub struct DialoguePage {
    pub rows: Vec<dialogue::Model>,
    pub info: PageInfo,
    pub endpoints: Vec<endpoint::Model>,
    order: Vec<DialogueOrder>,
    keys: Vec<SortKey<dialogue::Column>>,
}

impl DialoguePage {
    /// The cursor of a dialogue of this page.
    pub fn cursor(&self, d: &dialogue::Model) -> String {
        cursor(&self.order, &self.keys, d)
    }
}

fn cursor(
    order: &[DialogueOrder],
    keys: &[SortKey<dialogue::Column>],
    d: &dialogue::Model,
) -> String {
    let mut values: Vec<KeyValue> = order.iter().map(|o| o.field.key_value(d)).collect();
    if !ends_with_id(order) {
        values.push(KeyValue::Text(d.id.clone()));
    }
    page::encode_cursor(keys, &values)
}

/// How one dialogue is looked up.
#[derive(Debug, Clone)]
pub enum DialogueKey {
    Id(String),
    OrderNumber(i32),
}

impl TenantScope {
    /// One page of the tenant's dialogues matching the request's filter, in its order.
    pub async fn dialogue_page(
        &self,
        request: &DialogueListRequest,
        limits: PageLimits,
    ) -> ApiResult<DialoguePage> {
        self.dialogue_page_skipping(request, limits, 0).await
    }

    /// [`Self::dialogue_page`] after skipping `skip` matching rows (OData's `$skip`, which the
    /// vendor's API has; GraphQL never skips, it pages by cursors).
    pub async fn dialogue_page_skipping(
        &self,
        request: &DialogueListRequest,
        limits: PageLimits,
        skip: u64,
    ) -> ApiResult<DialoguePage> {
        let order = order(&request.order)?;
        let keys = sort_keys(&order);
        let page = page::page(&request.page, &keys, limits)?;
        let mut select = self.dialogues();
        if let Some(filter) = &request.filter {
            select = select.filter(filter.condition()?);
        }
        let mut fields = request.selection.fields.clone();
        fields.extend(order.iter().map(|o| o.field.field()));
        let select = page::apply(select, &keys, &page);
        let effective: Vec<(dialogue::Column, bool)> = keys
            .iter()
            .map(|k| (k.col, k.descending != page.backward))
            .collect();
        let (rows, endpoints) = self
            .fetch_dialogues(
                select,
                &format!("{}{}", page::limit_clause(&page), page::offset_clause(skip)),
                &fields,
                &request.selection.endpoints,
                Some(&effective),
            )
            .await?;
        let (rows, info) = page::finish(rows, &page, |d| cursor(&order, &keys, d));
        Ok(DialoguePage {
            rows,
            info,
            endpoints,
            order,
            keys,
        })
    }

    /// How many of the tenant's dialogues match `filter`.
    pub async fn count_dialogues(&self, filter: Option<&Filter<DialogueField>>) -> ApiResult<i64> {
        if self.uses_rollups() {
            if let Some(n) = self.count_from_rollups(filter).await? {
                return Ok(n);
            }
        } else {
            tracing::debug!(reason = "rows: pre-aggregates off", "totalCount");
        }
        self.count(self.dialogues(), filter).await
    }

    /// One dialogue, with the endpoints the selection joins.
    pub async fn find_dialogue(
        &self,
        key: &DialogueKey,
        selection: &DialogueSelection,
    ) -> ApiResult<Option<(dialogue::Model, Vec<endpoint::Model>)>> {
        let select = match key {
            DialogueKey::Id(id) => self
                .dialogues()
                .filter(dialogue::Column::Id.eq(id.as_str())),
            DialogueKey::OrderNumber(n) => self
                .dialogues()
                .filter(dialogue::Column::OrderNumber.eq(*n)),
        };
        let (rows, endpoints) = self
            .fetch_dialogues(
                select,
                " LIMIT 1",
                &selection.fields,
                &selection.endpoints,
                None,
            )
            .await?;
        Ok(rows.into_iter().next().map(|d| (d, endpoints)))
    }

    /// Runs `select` (filtered and ordered already) with `limit` for the `fields` wanted,
    /// joining the endpoints of `slots` in the same statement: the page is limited first, then
    /// joined, so the endpoints cost an index look-up per row of the page, never a scan.
    pub(super) async fn fetch_dialogues(
        &self,
        select: Select<dialogue::Entity>,
        limit: &str,
        fields: &[DialogueField],
        slots: &[Slot],
        order: Option<&[(dialogue::Column, bool)]>,
    ) -> ApiResult<(Vec<dialogue::Model>, Vec<endpoint::Model>)> {
        let mut read = vec![DialogueField::Id];
        let wanted = fields
            .iter()
            .copied()
            .chain(slots.iter().map(|s| s.field()));
        for field in wanted {
            if !read.contains(&field) {
                read.push(field);
            }
        }
        let mut columns: Vec<dialogue::Column> = read.iter().map(|f| f.db_column()).collect();
        // The change position is always read: two integers, and `Dialogue.changePosition`
        // shows it wherever a dialogue is shown.
        columns.extend([
            dialogue::Column::ChangePosition,
            dialogue::Column::ChangeIndex,
        ]);
        let mut inner = select.select_only();
        for col in &columns {
            inner = inner.column(*col);
        }
        let mut inner = inner.build(self.backend());
        inner.sql.push_str(limit);
        let statement = if slots.is_empty() {
            inner
        } else {
            with_endpoints(inner, slots, order, self.tenant_id())
        };
        let rows = self.all(statement).await?;
        let mut dialogues = Vec::with_capacity(rows.len());
        let mut endpoints: Vec<endpoint::Model> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for row in &rows {
            let d = read_dialogue(row, &columns, self.tenant_id())?;
            for (i, slot) in slots.iter().enumerate() {
                // The endpoint's columns follow the dialogue's, five a slot.
                let at = columns.len() + i * ENDPOINT_COLUMNS;
                if let Some(id) = slot.id(&d) {
                    if !seen.contains(id) {
                        if let Some(found) = read_endpoint(row, at, self.tenant_id())? {
                            seen.insert(found.id.clone());
                            endpoints.push(found);
                        }
                    }
                }
            }
            dialogues.push(d);
        }
        Ok((dialogues, endpoints))
    }
}

/// Columns of each joined endpoint, after the dialogue's (see [`with_endpoints`]).
const ENDPOINT_COLUMNS: usize = 5;

/// Wraps the page's statement in the joins to its endpoints, keeping its order.
fn with_endpoints(
    inner: Statement,
    slots: &[Slot],
    order: Option<&[(dialogue::Column, bool)]>,
    tenant_id: i32,
) -> Statement {
    let mut columns = String::from("p.*");
    let mut joins = String::new();
    for (i, slot) in slots.iter().enumerate() {
        let id_column = slot.field().db_column().to_string();
        columns.push_str(&format!(
            ", e{i}.id AS e{i}_id, e{i}.name AS e{i}_name, e{i}.role AS e{i}_role, \
             e{i}.sla_threshold_in_sec AS e{i}_sla, e{i}.quick_drop_threshold_in_sec AS e{i}_qd"
        ));
        // The tenant is a literal integer here, from the scope, never from the request.
        // PostgreSQL gets a lateral join, which is always one primary-key look-up per row of
        // the page (a plain join may be planned as a hash of all the tenant's endpoints);
        // SQLite's planner always joins row by row through the key.
        joins.push_str(&if inner.db_backend == DbBackend::Postgres {
            format!(
                " LEFT JOIN LATERAL (SELECT e.id, e.name, e.role, e.sla_threshold_in_sec, \
                 e.quick_drop_threshold_in_sec FROM endpoints AS e WHERE e.tenant_id = {tenant_id} \
                 AND e.id = p.{id_column}) AS e{i} ON TRUE"
            )
        } else {
            format!(
                " LEFT JOIN endpoints AS e{i} ON e{i}.tenant_id = {tenant_id} AND e{i}.id = p.{id_column}"
            )
        });
    }
    let mut sql = format!("SELECT {columns} FROM ({}) AS p{joins}", inner.sql);
    if let Some(order) = order {
        let keys: Vec<String> = order
            .iter()
            .map(|(col, descending)| {
                if *descending {
                    format!("p.{} DESC NULLS FIRST", col.to_string())
                } else {
                    format!("p.{} ASC NULLS LAST", col.to_string())
                }
            })
            .collect();
        sql.push_str(" ORDER BY ");
        sql.push_str(&keys.join(", "));
    }
    Statement { sql, ..inner }
}

/// A dialogue from a row holding `columns`; the others keep their type's default.
fn read_dialogue(
    row: &QueryResult,
    columns: &[dialogue::Column],
    tenant_id: i32,
) -> Result<dialogue::Model, DbErr> {
    use dialogue::Column as C;
    let mut d = dialogue::Model {
        tenant_id,
        id: String::new(),
        order_number: 0,
        start_date: chrono::NaiveDate::default(),
        start_timestamp_ms: 0,
        queue_enter_timestamp_ms: None,
        accept_timestamp_ms: None,
        end_timestamp_ms: None,
        ivr_duration_in_sec: None,
        queue_duration_in_sec: None,
        initial_talk_duration_in_sec: None,
        session_duration_in_sec: None,
        ivr_id: None,
        queue_id: None,
        customer_id: None,
        agent_id: None,
        direction: Direction::Inbound,
        outcome: Outcome::Accepted,
        in_sla: None,
        quick_drop: None,
        change_position: 0,
        change_index: 0,
    };
    // Columns come back in the order they were selected: read them by position.
    for (name, col) in columns.iter().enumerate() {
        match col {
            C::TenantId => {}
            C::Id => d.id = row.try_get_by_index(name)?,
            C::OrderNumber => d.order_number = row.try_get_by_index(name)?,
            C::StartDate => d.start_date = row.try_get_by_index(name)?,
            C::StartTimestampMs => d.start_timestamp_ms = row.try_get_by_index(name)?,
            C::QueueEnterTimestampMs => d.queue_enter_timestamp_ms = row.try_get_by_index(name)?,
            C::AcceptTimestampMs => d.accept_timestamp_ms = row.try_get_by_index(name)?,
            C::EndTimestampMs => d.end_timestamp_ms = row.try_get_by_index(name)?,
            C::IvrDurationInSec => d.ivr_duration_in_sec = row.try_get_by_index(name)?,
            C::QueueDurationInSec => d.queue_duration_in_sec = row.try_get_by_index(name)?,
            C::InitialTalkDurationInSec => {
                d.initial_talk_duration_in_sec = row.try_get_by_index(name)?
            }
            C::SessionDurationInSec => d.session_duration_in_sec = row.try_get_by_index(name)?,
            C::IvrId => d.ivr_id = row.try_get_by_index(name)?,
            C::QueueId => d.queue_id = row.try_get_by_index(name)?,
            C::CustomerId => d.customer_id = row.try_get_by_index(name)?,
            C::AgentId => d.agent_id = row.try_get_by_index(name)?,
            C::Direction => {
                let code: i16 = row.try_get_by_index(name)?;
                d.direction = Direction::from_code(code as i64).ok_or_else(|| {
                    DbErr::Type(format!("direction code {code} is not a direction"))
                })?;
            }
            C::Outcome => {
                let code: i16 = row.try_get_by_index(name)?;
                d.outcome = Outcome::from_code(code as i64)
                    .ok_or_else(|| DbErr::Type(format!("outcome code {code} is not an outcome")))?;
            }
            C::InSla => d.in_sla = row.try_get_by_index(name)?,
            C::QuickDrop => d.quick_drop = row.try_get_by_index(name)?,
            C::ChangePosition => d.change_position = row.try_get_by_index(name)?,
            C::ChangeIndex => d.change_index = row.try_get_by_index(name)?,
        }
    }
    Ok(d)
}

/// The endpoint joined at column `at` (id, name, role, SLA and quick-drop thresholds), if the
/// row has one.
fn read_endpoint(
    row: &QueryResult,
    at: usize,
    tenant_id: i32,
) -> Result<Option<endpoint::Model>, DbErr> {
    let Some(id) = row.try_get_by_index::<Option<String>>(at)? else {
        return Ok(None);
    };
    let role: i16 = row.try_get_by_index(at + 2)?;
    Ok(Some(endpoint::Model {
        tenant_id,
        id,
        name: row.try_get_by_index(at + 1)?,
        role: EndpointRole::from_code(role as i64)
            .ok_or_else(|| DbErr::Type(format!("role code {role} is not a role")))?,
        sla_threshold_in_sec: row.try_get_by_index(at + 3)?,
        quick_drop_threshold_in_sec: row.try_get_by_index(at + 4)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_by_id_is_its_own_tie_breaker() {
        let by_id = [DialogueOrder {
            field: DialogueOrderField::Id,
            descending: true,
        }];
        let keys = sort_keys(&by_id);
        assert_eq!(page::signature(&keys), "ID:D");
        let by_start_then_id = [
            DialogueOrder {
                field: DialogueOrderField::StartTimestamp,
                descending: false,
            },
            by_id[0],
        ];
        assert_eq!(
            page::signature(&sort_keys(&by_start_then_id)),
            "START_TIMESTAMP:A,ID:D"
        );
        assert_eq!(
            page::signature(&sort_keys(&by_start_then_id[..1])),
            "START_TIMESTAMP:A,ID:A"
        );
    }

    #[test]
    fn the_endpoints_join_the_limited_page_in_its_order() {
        let inner = Statement::from_string(
            DbBackend::Sqlite,
            "SELECT id, queue_id FROM dialogues LIMIT 11",
        );
        let outer = with_endpoints(
            inner,
            &[Slot::Queue],
            Some(&[
                (dialogue::Column::StartTimestampMs, true),
                (dialogue::Column::Id, true),
            ]),
            7,
        );
        assert_eq!(
            outer.sql,
            "SELECT p.*, e0.id AS e0_id, e0.name AS e0_name, e0.role AS e0_role, \
             e0.sla_threshold_in_sec AS e0_sla, e0.quick_drop_threshold_in_sec AS e0_qd \
             FROM (SELECT id, queue_id FROM dialogues LIMIT 11) AS p \
             LEFT JOIN endpoints AS e0 ON e0.tenant_id = 7 AND e0.id = p.queue_id \
             ORDER BY p.start_timestamp_ms DESC NULLS FIRST, p.id DESC NULLS FIRST"
        );
    }
}
