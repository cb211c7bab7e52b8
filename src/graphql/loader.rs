//! The one batched endpoint loader: every `ivr`/`queue`/`customer`/`agent` relation, on
//! dialogues and on stats rows, goes through it. It is made per request around the request's
//! tenant scope, so it can only ever load that tenant's endpoints, and it caches for the
//! request: a page of dialogues feeds it the endpoints its statement joined, and a list of stats
//! rows fetches all its relations in one look-up before its items resolve.
use super::GraphqlResult;
use std::collections::HashMap;
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::Context;
use entity::endpoint;

use super::endpoints::Endpoint;
use insights_core::error::ApiError;
use insights_core::query::endpoints::MAX_BATCH;
use insights_core::query::TenantScope;

pub struct EndpointLoader {
    scope: TenantScope,
}

/// The per-request loader as resolvers find it in the context. Its cache hashes ids with
/// foldhash: a page looks up hundreds of relations in it, and SipHash was a visible share of a
/// page's CPU (bench/profile.md); the ids come from our own rows, so no flooding defence needed.
pub type Endpoints = DataLoader<EndpointLoader, HashMapCache<foldhash::fast::RandomState>>;

impl EndpointLoader {
    pub fn new(scope: TenantScope) -> Endpoints {
        DataLoader::with_cache(Self { scope }, tokio::spawn, HashMapCache::new())
            .max_batch_size(MAX_BATCH)
            .delay(Duration::from_millis(2))
    }
}

impl Loader<String> for EndpointLoader {
    type Value = endpoint::Model;
    type Error = ApiError;

    async fn load(&self, ids: &[String]) -> Result<HashMap<String, endpoint::Model>, ApiError> {
        metrics::histogram!("insights_loader_batch_size").record(ids.len() as f64);
        let rows = self.scope.endpoints_by_ids(ids).await?;
        Ok(rows.into_iter().map(|e| (e.id.clone(), e)).collect())
    }
}

/// The endpoint an id names (through the request's loader).
pub async fn endpoint(
    ctx: &Context<'_>,
    id: &Option<String>,
) -> async_graphql::Result<Option<Endpoint>> {
    let Some(id) = id else { return Ok(None) };
    let loader = ctx.data_unchecked::<Endpoints>();
    Ok(loader.load_one(id.clone()).await.gql()?.map(Endpoint))
}

/// Loads every endpoint a list's items will ask for in one batch, so the items find them
/// in the cache: a page costs one endpoint look-up however many items and relations it has.
pub async fn prefetch(ctx: &Context<'_>, mut unique: Vec<String>) -> async_graphql::Result<()> {
    unique.sort_unstable();
    unique.dedup();
    if !unique.is_empty() {
        ctx.data_unchecked::<Endpoints>()
            .load_many(unique)
            .await
            .gql()?;
    }
    Ok(())
}
