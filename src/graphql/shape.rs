//! Limits on the shape of a query document that depth and complexity do not catch: how many
//! root fields one request may ask for, and how many aliases it may use (10,000 aliases of a
//! cheap field are cheap each, and expensive together).
use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

use crate::error::ErrorCode;

#[derive(Debug, Clone, Copy)]
pub struct ShapeLimits {
    pub max_root_fields: usize,
    pub max_aliases: usize,
}

impl ExtensionFactory for ShapeLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[derive(Default)]
struct Counts {
    aliases: usize,
    /// Work done walking, so a hostile document cannot make the walk itself expensive.
    visited: usize,
}

fn walk<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    counts: &mut Counts,
    stack: &mut HashSet<&'a str>,
) {
    for item in &set.items {
        counts.visited += 1;
        if counts.visited > 100_000 {
            return;
        }
        match &item.node {
            Selection::Field(field) => {
                if field.node.alias.is_some() {
                    counts.aliases += 1;
                }
                walk(doc, &field.node.selection_set.node, counts, stack);
            }
            Selection::InlineFragment(fragment) => {
                walk(doc, &fragment.node.selection_set.node, counts, stack)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if let Some(fragment) = doc.fragments.get(&spread.node.fragment_name.node) {
                    if stack.insert(name) {
                        walk(doc, &fragment.node.selection_set.node, counts, stack);
                        stack.remove(name);
                    }
                }
            }
        }
    }
}

fn root_fields(doc: &ExecutableDocument, set: &SelectionSet, stack: &mut HashSet<String>) -> usize {
    let mut n = 0;
    for item in &set.items {
        n += match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(fragment) => {
                root_fields(doc, &fragment.node.selection_set.node, stack)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.to_string();
                match doc.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) if stack.insert(name.clone()) => {
                        let inner = root_fields(doc, &fragment.node.selection_set.node, stack);
                        stack.remove(&name);
                        inner
                    }
                    _ => 0,
                }
            }
        };
    }
    n
}

fn too_complex(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", ErrorCode::QueryTooComplex.as_str());
    error
}

#[async_trait::async_trait]
impl Extension for ShapeLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        for (_, operation) in doc.operations.iter() {
            let roots = root_fields(
                &doc,
                &operation.node.selection_set.node,
                &mut HashSet::new(),
            );
            if roots > self.max_root_fields {
                return Err(too_complex(format!(
                    "the operation asks for {roots} root fields; at most {} are allowed",
                    self.max_root_fields
                )));
            }
            let mut counts = Counts::default();
            walk(
                &doc,
                &operation.node.selection_set.node,
                &mut counts,
                &mut HashSet::new(),
            );
            if counts.aliases > self.max_aliases {
                return Err(too_complex(format!(
                    "the operation uses {} aliases; at most {} are allowed",
                    counts.aliases, self.max_aliases
                )));
            }
        }
        Ok(doc)
    }
}
