//! Automatic persisted queries (docs/api.md), as Apollo's clients speak them: a request carries
//! `extensions.persistedQuery { version: 1, sha256Hash }`. With the query text, the text is
//! checked against the hash and remembered; with the hash alone, the remembered text is used,
//! and until there is one the answer is `PERSISTED_QUERY_NOT_FOUND` (message
//! `PersistedQueryNotFound`, which Apollo's clients also recognise), whereupon the client sends
//! the text once. So a dashboard's queries become small GETs that HTTP caches can keep.
//!
//! Not async-graphql's `ApolloPersistedQueries`: that one hands the executor a pre-parsed
//! document with an empty text, which would skip the guards that read the text (the parser's
//! limits, the GET-is-read-only check, the document cache) and code its errors as nothing we
//! promise. Here the text itself is restored, so a hash-only request is then exactly the request
//! its text would have been.
//!
//! Memory is bounded: at most [`MAX_ENTRIES`] texts of at most [`MAX_TEXT_BYTES`] each, and at
//! most [`MAX_TOTAL_BYTES`] together; the least recently used go first. The store is per process:
//! behind a load balancer a client may meet `PERSISTED_QUERY_NOT_FOUND` once per instance, and
//! resends the text as it would after an eviction.
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::Request;
use lru::LruCache;
use sha2::{Digest, Sha256};

use insights_core::error::ErrorCode;

/// Most texts kept.
pub const MAX_ENTRIES: usize = 4096;
/// Longest text kept (longer ones still run; they are just not remembered).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Most bytes of text kept together.
pub const MAX_TOTAL_BYTES: usize = 16 * 1024 * 1024;

/// The message Apollo's clients look for to resend a query with its text.
pub const NOT_FOUND_MESSAGE: &str = "PersistedQueryNotFound";

/// Why a persisted-query request cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

/// What [`PersistedQueries::resolve`] did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The request carries no `persistedQuery` extension.
    Plain,
    /// It carried the text and its hash; the text is now remembered.
    Registered,
    /// It carried the hash alone; the remembered text was put in.
    FromHash,
}

struct Store {
    texts: LruCache<String, Arc<str>>,
    bytes: usize,
}

/// The server's persisted queries, shared by its requests.
#[derive(Clone)]
pub struct PersistedQueries {
    store: Arc<Mutex<Store>>,
    max_total_bytes: usize,
}

impl Default for PersistedQueries {
    fn default() -> Self {
        Self::new(MAX_ENTRIES, MAX_TOTAL_BYTES)
    }
}

/// The lowercase hex SHA-256 of a query text, as `sha256Hash` carries it.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

impl PersistedQueries {
    pub fn new(max_entries: usize, max_total_bytes: usize) -> Self {
        Self {
            store: Arc::new(Mutex::new(Store {
                texts: LruCache::new(NonZeroUsize::new(max_entries.max(1)).expect("at least 1")),
                bytes: 0,
            })),
            max_total_bytes,
        }
    }

    /// How many texts and bytes are kept now.
    pub fn usage(&self) -> (usize, usize) {
        let store = self.store.lock().expect("persisted queries lock");
        (store.texts.len(), store.bytes)
    }

    fn remember(&self, hash: String, text: &str) {
        if text.len() > MAX_TEXT_BYTES {
            return;
        }
        let mut store = self.store.lock().expect("persisted queries lock");
        if store.texts.get(&hash).is_some() {
            return;
        }
        while store.bytes + text.len() > self.max_total_bytes {
            match store.texts.pop_lru() {
                Some((_, old)) => store.bytes -= old.len(),
                None => break,
            }
        }
        store.bytes += text.len();
        if let Some((_, old)) = store.texts.push(hash, Arc::from(text)) {
            store.bytes -= old.len();
        }
    }

    fn lookup(&self, hash: &str) -> Option<Arc<str>> {
        self.store
            .lock()
            .expect("persisted queries lock")
            .texts
            .get(hash)
            .cloned()
    }

    /// Handles the request's `persistedQuery` extension (and removes it): checks and remembers
    /// a text sent with its hash, or puts in the text of a hash sent alone.
    pub fn resolve(&self, request: &mut Request) -> Result<Resolution, Refusal> {
        let Some(value) = request.extensions.remove("persistedQuery") else {
            return Ok(Resolution::Plain);
        };
        let json = value.into_json().map_err(|_| {
            refuse(
                ErrorCode::BadUserInput,
                "extensions.persistedQuery must be { version: 1, sha256Hash: \"<hex>\" }",
            )
        })?;
        let version = json.get("version").and_then(|v| v.as_i64());
        if version != Some(1) {
            return Err(refuse(
                ErrorCode::BadUserInput,
                format!(
                    "only version 1 of persisted queries is supported, not {}",
                    json.get("version")
                        .map_or("a missing version".to_string(), |v| v.to_string())
                ),
            ));
        }
        let hash = json
            .get("sha256Hash")
            .and_then(|v| v.as_str())
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                refuse(
                    ErrorCode::BadUserInput,
                    "extensions.persistedQuery.sha256Hash must be the 64 hex digits of the \
                     query's SHA-256",
                )
            })?
            .to_ascii_lowercase();
        if request.query.is_empty() {
            let text = self
                .lookup(&hash)
                .ok_or_else(|| refuse(ErrorCode::PersistedQueryNotFound, NOT_FOUND_MESSAGE))?;
            request.query = text.to_string();
            return Ok(Resolution::FromHash);
        }
        let actual = sha256_hex(&request.query);
        if actual != hash {
            return Err(refuse(
                ErrorCode::BadUserInput,
                format!(
                    "provided sha does not match query: the query's SHA-256 is {actual}, not \
                     {hash}"
                ),
            ));
        }
        self.remember(hash, &request.query);
        Ok(Resolution::Registered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, hash: &str) -> Request {
        let mut request = Request::new(query);
        request.extensions.insert(
            "persistedQuery".to_string(),
            async_graphql::Value::from_json(
                serde_json::json!({ "version": 1, "sha256Hash": hash }),
            )
            .unwrap(),
        );
        request
    }

    #[test]
    fn hash_alone_works_after_the_text_was_sent_once() {
        let store = PersistedQueries::default();
        let text = "{ dialogues { totalCount } }";
        let hash = sha256_hex(text);
        let refusal = store.resolve(&mut request("", &hash)).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::PersistedQueryNotFound);
        assert_eq!(refusal.message, NOT_FOUND_MESSAGE);
        let mut full = request(text, &hash);
        assert_eq!(store.resolve(&mut full), Ok(Resolution::Registered));
        assert!(full.extensions.get("persistedQuery").is_none());
        let mut short = request("", &hash.to_ascii_uppercase());
        assert_eq!(store.resolve(&mut short), Ok(Resolution::FromHash));
        assert_eq!(short.query, text);
        let mut plain = Request::new(text);
        assert_eq!(store.resolve(&mut plain), Ok(Resolution::Plain));
    }

    #[test]
    fn a_wrong_hash_or_version_is_refused() {
        let store = PersistedQueries::default();
        let text = "{ a }";
        let other = sha256_hex("{ b }");
        let refusal = store.resolve(&mut request(text, &other)).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::BadUserInput);
        assert!(refusal.message.contains(&sha256_hex(text)), "{refusal:?}");
        // Nothing was remembered under either hash.
        assert!(store.resolve(&mut request("", &other)).is_err());
        assert_eq!(store.usage(), (0, 0));
        for bad in ["abc", &"g".repeat(64)] {
            let refusal = store.resolve(&mut request(text, bad)).unwrap_err();
            assert_eq!(refusal.code, ErrorCode::BadUserInput);
        }
        let mut v2 = Request::new(text);
        v2.extensions.insert(
            "persistedQuery".to_string(),
            async_graphql::Value::from_json(
                serde_json::json!({ "version": 2, "sha256Hash": sha256_hex(text) }),
            )
            .unwrap(),
        );
        assert_eq!(
            store.resolve(&mut v2).unwrap_err().code,
            ErrorCode::BadUserInput
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let store = PersistedQueries::new(10, 1000);
        for i in 0..100 {
            let text = format!("{{ dialogues(first: {i}) {{ totalCount }} }}");
            store
                .resolve(&mut request(&text, &sha256_hex(&text)))
                .unwrap();
            let (entries, bytes) = store.usage();
            assert!(entries <= 10 && bytes <= 1000, "{entries} {bytes}");
        }
        // The least recently used went first; the newest are there.
        let newest = "{ dialogues(first: 99) { totalCount } }";
        assert_eq!(
            store.resolve(&mut request("", &sha256_hex(newest))),
            Ok(Resolution::FromHash)
        );
        let oldest = "{ dialogues(first: 0) { totalCount } }";
        assert!(store
            .resolve(&mut request("", &sha256_hex(oldest)))
            .is_err());
        // Byte-bounded too: big texts push out others until they fit.
        let store = PersistedQueries::new(100, 1000);
        for i in 0..20 {
            let text = format!("{{ a{i} {} }}", " ".repeat(300));
            store
                .resolve(&mut request(&text, &sha256_hex(&text)))
                .unwrap();
            assert!(store.usage().1 <= 1000);
        }
        assert_eq!(store.usage().0, 3);
        // A text longer than the limit runs but is not kept.
        let huge = format!("{{ a {} }}", " ".repeat(MAX_TEXT_BYTES));
        let store = PersistedQueries::default();
        assert_eq!(
            store.resolve(&mut request(&huge, &sha256_hex(&huge))),
            Ok(Resolution::Registered)
        );
        assert_eq!(store.usage(), (0, 0));
    }
}
