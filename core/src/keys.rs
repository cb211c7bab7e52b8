//! API keys: each belongs to one tenant and carries scopes. The secret is shown once at
//! creation and stored only as its SHA-256; a presented key is found by that hash and the
//! stored hash is compared in constant time.
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entity::{api_key, tenant};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Queries and subscriptions.
    Read,
    /// Mutations that ingest records.
    Ingest,
}

impl Scope {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "read" => Some(Self::Read),
            "ingest" => Some(Self::Ingest),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Ingest => "ingest",
        }
    }
}

/// The scopes of a key, as stored (`read,ingest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Parses a comma-separated list; unknown names are an error naming them.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut scopes = Vec::new();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let scope = Scope::parse(part)
                .ok_or_else(|| format!("unknown scope `{}` (use read, ingest)", part.trim()))?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err("give at least one scope (read, ingest)".into());
        }
        Ok(Self(scopes))
    }

    pub fn all() -> Self {
        Self(vec![Scope::Read, Scope::Ingest])
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|s| s.as_str()).collect();
        f.write_str(&names.join(","))
    }
}

/// Who a request is: the tenant it may see and what it may do.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: i32,
    pub scopes: Scopes,
    /// The key's public id (None when the server runs without auth).
    pub key_id: Option<String>,
}

const PREFIX: &str = "dik_";

/// Whether `secret` has the shape of a key this server makes (`dik_` and 43 URL-safe base64
/// characters), before anything is looked up.
pub fn well_formed(secret: &str) -> bool {
    secret.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    rand::rng().fill_bytes(&mut buf);
    buf
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A created key: its row and the secret, which exists nowhere else from now on.
pub struct CreatedKey {
    pub key: api_key::Model,
    pub secret: String,
}

/// Creates a key for `tenant` (created if new) with 256 random bits.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    tenant: &str,
    scopes: &Scopes,
    label: Option<String>,
) -> Result<CreatedKey, DbErr> {
    let tenant = crate::tenant::ensure(db, tenant).await?;
    let secret = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(random_bytes(32)));
    let id = format!("key_{}", hex::encode(random_bytes(6)));
    let key = api_key::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.id),
        secret_hash: Set(hash(&secret)),
        scopes: Set(scopes.to_string()),
        label: Set(label),
        created_at_ms: Set(now_ms()),
        last_used_at_ms: Set(None),
        revoked_at_ms: Set(None),
    }
    .insert(db)
    .await?;
    Ok(CreatedKey { key, secret })
}

/// A key as listed: never the secret.
pub struct ListedKey {
    pub key: api_key::Model,
    pub tenant: String,
}

pub async fn list<C: ConnectionTrait>(
    db: &C,
    tenant: Option<&str>,
) -> Result<Vec<ListedKey>, DbErr> {
    let tenants: std::collections::HashMap<i32, String> = tenant::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let mut query = api_key::Entity::find().order_by_asc(api_key::Column::CreatedAtMs);
    if let Some(name) = tenant {
        let Some(found) = crate::tenant::find(db, name).await? else {
            return Ok(Vec::new());
        };
        query = query.filter(api_key::Column::TenantId.eq(found.id));
    }
    Ok(query
        .all(db)
        .await?
        .into_iter()
        .map(|key| ListedKey {
            tenant: tenants.get(&key.tenant_id).cloned().unwrap_or_default(),
            key,
        })
        .collect())
}

/// Revokes a key by its public id; false if there is no such key.
pub async fn revoke<C: ConnectionTrait>(db: &C, id: &str) -> Result<bool, DbErr> {
    let Some(key) = api_key::Entity::find_by_id(id.to_string()).one(db).await? else {
        return Ok(false);
    };
    if key.revoked_at_ms.is_none() {
        let mut active: api_key::ActiveModel = key.into();
        active.revoked_at_ms = Set(Some(now_ms()));
        active.update(db).await?;
    }
    Ok(true)
}

/// The principal a presented secret stands for, if it is a live key.
pub async fn verify<C: ConnectionTrait>(
    db: &C,
    secret: &str,
) -> Result<Option<(api_key::Model, Principal)>, DbErr> {
    if !secret.starts_with(PREFIX) || secret.len() > 200 {
        return Ok(None);
    }
    let presented = hash(secret);
    let Some(key) = api_key::Entity::find()
        .filter(api_key::Column::SecretHash.eq(presented.as_str()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let same: bool = key
        .secret_hash
        .as_bytes()
        .ct_eq(presented.as_bytes())
        .into();
    if !same || key.revoked_at_ms.is_some() {
        return Ok(None);
    }
    let scopes = Scopes::parse(&key.scopes).unwrap_or_default();
    let principal = Principal {
        tenant_id: key.tenant_id,
        scopes,
        key_id: Some(key.id.clone()),
    };
    Ok(Some((key, principal)))
}

/// Records that a key was used (callers throttle this: it is a write).
pub async fn touch<C: ConnectionTrait>(db: &C, id: &str) -> Result<(), DbErr> {
    api_key::Entity::update_many()
        .col_expr(
            api_key::Column::LastUsedAtMs,
            sea_orm::sea_query::Expr::value(now_ms()),
        )
        .filter(api_key::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_keys_are_well_formed_and_others_are_not() {
        for _ in 0..20 {
            let secret = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(random_bytes(32)));
            assert!(well_formed(&secret), "{secret}");
        }
        let good = format!("{PREFIX}{}", "A".repeat(43));
        assert!(well_formed(&good));
        for bad in [
            String::new(),
            "dik_".to_string(),
            format!("{PREFIX}{}", "A".repeat(42)),
            format!("{PREFIX}{}", "A".repeat(44)),
            format!("{PREFIX}{}=", "A".repeat(42)),
            format!("key_{}", "A".repeat(43)),
        ] {
            assert!(!well_formed(&bad), "{bad}");
        }
    }
}
