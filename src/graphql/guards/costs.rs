//! The depth and complexity limits, checked against the figures async-graphql's validator
//! computes (its `ValidationResult`), so the errors can say how far over the limit a query is.
//!
//! A page size above the maximum is a BAD_USER_INPUT error however large it is (docs/api.md):
//! the complexity check, which counts page sizes, must not turn `first: 1000000000` into
//! QUERY_TOO_COMPLEX. When an operation is too complex and asks for such a page, the client
//! is told about the page size instead.
//!
//! A connection without `first`/`last` costs the configured default page size: the validator
//! runs inside [`DEFAULT_PAGE_SIZE`](crate::graphql::DEFAULT_PAGE_SIZE)'s scope, which
//! `page_complexity` reads.
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::registry::{MetaTypeName, Registry};
use async_graphql::{Pos, ServerError, ValidationResult, Value as ConstValue, Variables};

use super::limits::{bad_input, too_complex};

/// The limits the validator's figures are held to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Costs {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub default_page_size: usize,
    pub max_page_size: usize,
}

/// The connection field asking for the most items (an explicit `first`/`last`, or the default).
struct BiggestPage {
    field: String,
    size: usize,
    pos: Pos,
}

/// The first `first`/`last` argument (literal or variable) above `max` anywhere in `doc`.
fn oversized_page(
    doc: &ExecutableDocument,
    variables: &Variables,
    max: usize,
) -> Option<(String, i64)> {
    let mut sets: Vec<&SelectionSet> = doc
        .operations
        .iter()
        .map(|(_, op)| &op.node.selection_set.node)
        .chain(doc.fragments.values().map(|f| &f.node.selection_set.node))
        .collect();
    while let Some(set) = sets.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    for (name, value) in &field.node.arguments {
                        if !matches!(name.node.as_str(), "first" | "last") {
                            continue;
                        }
                        let value = value
                            .node
                            .clone()
                            .into_const_with(|var| variables.get(&var).cloned().ok_or(()));
                        if let Ok(ConstValue::Number(n)) = value {
                            if let Some(n) = n.as_i64().filter(|n| *n > max as i64) {
                                return Some((name.node.to_string(), n));
                            }
                        }
                    }
                    sets.push(&field.node.selection_set.node);
                }
                Selection::InlineFragment(fragment) => sets.push(&fragment.node.selection_set.node),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    None
}

/// The field with the largest page in `doc`: connections are the fields that take `first`
/// and `last`, and ask for the default page without them.
fn biggest_page(
    doc: &ExecutableDocument,
    variables: &Variables,
    registry: &Registry,
    default_page_size: usize,
) -> Option<BiggestPage> {
    let mut biggest: Option<BiggestPage> = None;
    let mut sets: Vec<(&str, &SelectionSet)> = doc
        .operations
        .iter()
        .map(|(_, op)| (registry.query_type.as_str(), &op.node.selection_set.node))
        .chain(doc.fragments.values().map(|f| {
            (
                f.node.type_condition.node.on.node.as_str(),
                &f.node.selection_set.node,
            )
        }))
        .collect();
    while let Some((parent, set)) = sets.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    let Some(meta) = registry
                        .types
                        .get(parent)
                        .and_then(|t| t.field_by_name(name))
                    else {
                        continue;
                    };
                    if meta.args.contains_key("first") && meta.args.contains_key("last") {
                        let size = ["first", "last"]
                            .iter()
                            .find_map(|arg| {
                                let value = field.node.get_argument(arg)?.node.clone();
                                let value = value
                                    .into_const_with(|var| variables.get(&var).cloned().ok_or(()))
                                    .ok()?;
                                match value {
                                    ConstValue::Number(n) => n.as_u64(),
                                    _ => None,
                                }
                            })
                            .map_or(default_page_size, |n| {
                                usize::try_from(n).unwrap_or(usize::MAX)
                            });
                        if biggest.as_ref().is_none_or(|b| size > b.size) {
                            biggest = Some(BiggestPage {
                                field: name.to_string(),
                                size,
                                pos: field.pos,
                            });
                        }
                    }
                    sets.push((
                        MetaTypeName::concrete_typename(&meta.ty),
                        &field.node.selection_set.node,
                    ));
                }
                Selection::InlineFragment(fragment) => sets.push((
                    fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(parent, |c| c.node.on.node.as_str()),
                    &fragment.node.selection_set.node,
                )),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    biggest
}

impl Costs {
    /// The error of a request whose validated `result` is over a limit: too complex (or asking
    /// for an oversized page), else too deep.
    pub(super) fn check(
        &self,
        result: &ValidationResult,
        doc: &ExecutableDocument,
        variables: &Variables,
        registry: &Registry,
    ) -> Result<(), ServerError> {
        if result.complexity > self.max_complexity {
            if let Some((name, n)) = oversized_page(doc, variables, self.max_page_size) {
                return Err(bad_input(format!(
                    "`{name}` is {n}; at most {} items can be asked for at once: page with the cursors",
                    self.max_page_size
                )));
            }
            let biggest = biggest_page(doc, variables, registry, self.default_page_size);
            let place = biggest.as_ref().map_or(String::new(), |b| {
                format!(
                    " (the largest page: {} items of `{}` at line {}, column {})",
                    b.size, b.field, b.pos.line, b.pos.column
                )
            });
            let mut error = too_complex(format!(
                "the query is too complex: it costs {}, more than the limit of {}{place}: ask \
                 for smaller pages or fewer fields",
                result.complexity, self.max_complexity
            ));
            if let Some(biggest) = biggest {
                error.locations.push(biggest.pos);
            }
            return Err(error);
        }
        if result.depth > self.max_depth {
            return Err(too_complex(format!(
                "the query is nested too deep: {} levels, more than the limit of {}",
                result.depth, self.max_depth
            )));
        }
        Ok(())
    }
}
