//! What changed after a change position (`live::position`): the tenant's dialogues whose last
//! change comes after it, in position order (within one commit, in the order it wrote them) —
//! the order in which resuming subscribers replay them and live subscribers catch up.
use entity::dialogue;
use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder};

use super::filter::{DialogueField, Filter};
use super::TenantScope;
use crate::error::ApiResult;
use crate::live::position::ChangePosition;

impl TenantScope {
    /// Up to `limit` of the tenant's dialogues changed after `after` that match `filter`, every
    /// field read (an index range scan on (tenant, change position, change index)).
    pub async fn dialogues_changed_after(
        &self,
        after: &ChangePosition,
        filter: Option<&Filter<DialogueField>>,
        limit: usize,
    ) -> ApiResult<Vec<dialogue::Model>> {
        use dialogue::Column as C;
        let later = C::ChangePosition.gt(after.commit);
        let past = match after.index {
            None => Condition::all().add(later),
            Some(index) => Condition::any().add(later).add(
                Condition::all()
                    .add(C::ChangePosition.eq(after.commit))
                    .add(C::ChangeIndex.gt(index)),
            ),
        };
        let mut select = self.dialogues().filter(past);
        if let Some(filter) = filter {
            select = select.filter(filter.condition()?);
        }
        let select = select
            .order_by_asc(C::ChangePosition)
            .order_by_asc(C::ChangeIndex);
        let (rows, _) = self
            .fetch_dialogues(
                select,
                &format!(" LIMIT {limit}"),
                &DialogueField::ALL,
                &[],
                None,
            )
            .await?;
        Ok(rows)
    }
}
