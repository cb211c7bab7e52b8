//! Parsed documents, cached by their text. Clients send the same few queries over and over
//! (a dashboard's, a wallboard's); parsing one costs more than the rest of the request's
//! bookkeeping, so each distinct text is parsed once. The guards against hostile documents
//! still run on every request: a cached document only skips the parser.
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

/// Texts longer than this are parsed every time (they are not a dashboard's queries).
const MAX_CACHED_TEXT: usize = 16 * 1024;

/// The schema's document cache, shared by all its requests.
pub(super) struct DocumentCache {
    documents: Mutex<LruCache<String, Arc<ExecutableDocument>>>,
}

impl DocumentCache {
    pub(super) fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity.max(1)).expect("at least 1");
        Self {
            documents: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The document of `text`, if it was parsed before.
    pub(super) fn get(&self, text: &str) -> Option<Arc<ExecutableDocument>> {
        if text.len() > MAX_CACHED_TEXT {
            return None;
        }
        self.documents
            .lock()
            .expect("document cache lock")
            .get(text)
            .cloned()
    }

    /// Keeps the document of `text` (one that passed the guards on its text and its size).
    pub(super) fn put(&self, text: &str, doc: &Arc<ExecutableDocument>) {
        if text.len() <= MAX_CACHED_TEXT {
            self.documents
                .lock()
                .expect("document cache lock")
                .put(text.to_string(), doc.clone());
        }
    }
}
