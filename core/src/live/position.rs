//! Change positions: where a subscriber is in a tenant's stream of changes.
//!
//! Every commit that changes a tenant's dialogues takes the next number of the tenant's counter
//! (`change_positions`, [`take`]) and writes it on every dialogue row it inserts or changes
//! (`dialogues.change_position`). The counter row stays locked until the commit ends, so a
//! later commit of the tenant takes a larger number only after this one is visible: position
//! order is commit order, and any read sees every position up to the largest it sees (a plain
//! sequence would not promise that). Numbers need not be dense: a commit that changes nothing
//! (a replay) keeps the number it took unused.
//!
//! Within a commit, each changed row also gets its place among the commit's changes, in the
//! order the commit wrote them (`dialogues.change_index`): a change's position is the pair.
//!
//! A client sees positions only as opaque text ([`ChangePosition::encode`]): the tenant, the
//! commit's number and, for a dialogue's own position, its place in the commit, so that a
//! client that stopped in the middle of a large commit resumes right after the last dialogue it
//! saw. The commit's number is what read replicas will call the commit position.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sea_orm::{ConnectionTrait, DbErr, Statement};

use crate::db::placeholder;
use crate::error::{ApiError, ApiResult, Arg, Wording};

/// The version of the text form, its first field.
const VERSION: &str = "1";

/// A point in one tenant's stream of changes: after commit `commit` entirely (`index` None),
/// or after the change at `index` of that commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePosition {
    pub tenant_id: i32,
    pub commit: i64,
    pub index: Option<i64>,
}

impl ChangePosition {
    /// Before any change of the tenant.
    pub fn start(tenant_id: i32) -> Self {
        Self::after_commit(tenant_id, 0)
    }

    /// After every change of commits up to `commit`.
    pub fn after_commit(tenant_id: i32, commit: i64) -> Self {
        Self {
            tenant_id,
            commit,
            index: None,
        }
    }

    /// The position of a stored dialogue's last change.
    pub fn of(d: &entity::dialogue::Model) -> Self {
        Self {
            tenant_id: d.tenant_id,
            commit: d.change_position,
            index: Some(d.change_index),
        }
    }

    /// The opaque text clients see.
    pub fn encode(&self) -> String {
        let mut text = format!("{VERSION}.{}.{}", self.tenant_id, self.commit);
        if let Some(index) = self.index {
            text.push_str(&format!(".{index}"));
        }
        URL_SAFE_NO_PAD.encode(text)
    }

    /// Reads a position a client sent back as `arg`; it must be one of `tenant_id`'s.
    pub fn decode(text: &str, tenant_id: i32, arg: Arg) -> ApiResult<Self> {
        Self::decode_as(
            text,
            tenant_id,
            Wording::arg(arg),
            "a `changePosition` or a RESUME_REQUIRED `after`",
        )
    }

    /// Reads a commit position a client sent back in the header `Insights-Read-After`; it
    /// must be one of `tenant_id`'s. (Any change position is accepted: its commit is what
    /// counts.)
    pub fn decode_commit(text: &str, tenant_id: i32) -> ApiResult<Self> {
        let position = Self::decode_as(
            text,
            tenant_id,
            Wording::text("the header `Insights-Read-After`"),
            "an `Insights-Commit-Position` or a `changePosition`",
        )?;
        Ok(Self::after_commit(tenant_id, position.commit))
    }

    fn decode_as(text: &str, tenant_id: i32, what: Wording, given: &str) -> ApiResult<Self> {
        let malformed = || {
            ApiError::bad_input(what.clone().then(format!(
                " is not a change position (send back {given} exactly as the server gave it)"
            )))
        };
        let (tenant, commit, index) = Self::parse(text).ok_or_else(malformed)?;
        if tenant != tenant_id {
            return Err(ApiError::bad_input(what.then(
                " is a change position of another tenant than this API key's",
            )));
        }
        Ok(Self {
            tenant_id,
            commit,
            index,
        })
    }

    /// The tenant, commit and index of the text form; None when it is not one.
    fn parse(text: &str) -> Option<(i32, i64, Option<i64>)> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.split('.');
        if parts.next() != Some(VERSION) {
            return None;
        }
        let tenant: i32 = parts.next()?.parse().ok()?;
        let commit: i64 = parts.next()?.parse().ok().filter(|c| *c >= 0)?;
        let index = match parts.next() {
            None => None,
            Some(index) => Some(index.parse::<i64>().ok().filter(|i| *i >= 0)?),
        };
        if parts.next().is_some() {
            return None;
        }
        Some((tenant, commit, index))
    }
}

/// Takes the tenant's next position inside the writing transaction `txn` (one statement on
/// both databases); the counter row stays locked until `txn` ends, which orders the tenant's
/// commits.
pub async fn take<C: ConnectionTrait>(txn: &C, tenant_id: i32) -> Result<i64, DbErr> {
    let backend = txn.get_database_backend();
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "INSERT INTO change_positions (tenant_id, last_position) VALUES ({}, 1) \
                 ON CONFLICT (tenant_id) DO UPDATE SET last_position = change_positions.last_position + 1 \
                 RETURNING last_position",
                placeholder(backend, 1)
            ),
            [tenant_id.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("taking a change position returned no row".into()))?;
    row.try_get("", "last_position")
}

/// The tenant's last committed position (0 before its first).
pub async fn current<C: ConnectionTrait>(db: &C, tenant_id: i32) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT last_position FROM change_positions WHERE tenant_id = {}",
                placeholder(backend, 1)
            ),
            [tenant_id.into()],
        ))
        .await?;
    match row {
        Some(row) => row.try_get("", "last_position"),
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn positions_read_back_as_written_and_only_for_their_tenant() {
        for position in [
            ChangePosition::after_commit(7, 0),
            ChangePosition::after_commit(7, 42),
            ChangePosition {
                tenant_id: 7,
                commit: 3,
                index: Some(1234),
            },
        ] {
            let text = position.encode();
            assert!(text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            assert_eq!(
                ChangePosition::decode(&text, 7, Arg::After).unwrap(),
                position
            );
            let other = ChangePosition::decode(&text, 8, Arg::After).unwrap_err();
            assert_eq!(other.code, ErrorCode::BadUserInput);
            assert!(
                other.message().contains("another tenant"),
                "{}",
                other.message()
            );
        }
        for bad in [
            "",
            "x",
            "!!",
            &URL_SAFE_NO_PAD.encode("2.7.1"),
            &URL_SAFE_NO_PAD.encode("1.7.-1"),
            &URL_SAFE_NO_PAD.encode("1.7.1."),
            &URL_SAFE_NO_PAD.encode("1.7.1.x"),
            &URL_SAFE_NO_PAD.encode("1.7.1.2.3"),
        ] {
            let error = ChangePosition::decode(bad, 7, Arg::After).unwrap_err();
            assert_eq!(error.code, ErrorCode::BadUserInput);
            assert!(
                error
                    .message()
                    .starts_with("`after` is not a change position"),
                "{}",
                error.message()
            );
        }
    }
}
