//! The one batched endpoint loader: every `ivr`/`queue`/`customer`/`agent` relation, on
//! dialogues and on stats rows, goes through it. It is made per request around the request's
//! tenant scope, so it can only ever load that tenant's endpoints.
use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::endpoint;
use sea_orm::{ColumnTrait, QueryFilter};

use crate::error::ApiError;
use crate::tenant::TenantScope;

/// Most ids in one batched look-up.
pub const MAX_BATCH: usize = 1000;

pub struct EndpointLoader {
    scope: TenantScope,
}

impl EndpointLoader {
    pub fn new(scope: TenantScope) -> DataLoader<Self> {
        DataLoader::new(Self { scope }, tokio::spawn).max_batch_size(MAX_BATCH)
    }
}

impl Loader<String> for EndpointLoader {
    type Value = endpoint::Model;
    type Error = ApiError;

    async fn load(&self, ids: &[String]) -> Result<HashMap<String, endpoint::Model>, ApiError> {
        let rows = self
            .scope
            .endpoints()
            .filter(endpoint::Column::Id.is_in(ids.iter().cloned()))
            .all(self.scope.connection())
            .await?;
        Ok(rows.into_iter().map(|e| (e.id.clone(), e)).collect())
    }
}
