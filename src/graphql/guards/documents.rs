//! Parsed documents, cached by their text. Clients send the same few queries over and over
//! (a dashboard's, a wallboard's); parsing one costs more than the rest of the request's
//! bookkeeping, so each distinct text is parsed once. The guards against hostile documents
//! (`shape::ShapeLimits`) still run on every request: a cached document only skips the parser.
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerResult};
use lru::LruCache;

/// Texts longer than this are parsed every time (they are not a dashboard's queries).
const MAX_CACHED_TEXT: usize = 16 * 1024;

/// The schema's document cache, shared by all its requests.
#[derive(Clone)]
pub struct DocumentCache {
    documents: Arc<Mutex<LruCache<String, ExecutableDocument>>>,
}

impl DocumentCache {
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity.max(1)).expect("at least 1");
        Self {
            documents: Arc::new(Mutex::new(LruCache::new(capacity))),
        }
    }
}

impl ExtensionFactory for DocumentCache {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Extension for DocumentCache {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let cacheable = request.query.len() <= MAX_CACHED_TEXT;
        if cacheable {
            let cached = self.documents.lock().unwrap().get(&request.query).cloned();
            if let Some(doc) = cached {
                request.set_parsed_query(doc);
                return next.run(ctx, request).await;
            }
        }
        // The guards after this extension parse the document once it passed them.
        let mut request = next.run(ctx, request).await?;
        if cacheable {
            if let Ok(doc) = request.parsed_query() {
                let doc = doc.clone();
                self.documents
                    .lock()
                    .unwrap()
                    .put(request.query.clone(), doc);
            }
        }
        Ok(request)
    }
}
