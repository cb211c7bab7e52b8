//! Gives every error an `extensions.code` (docs/api.md): those of the checks before execution,
//! those async-graphql raises itself (validation, choosing the operation, coercing input), and
//! anything uncoded a resolver lets through (an internal error, its text kept from the client).
use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::parser::Error as ParserError;
use async_graphql::{Pos, Positioned, Response, ServerError, Variables};

use insights_core::error::ErrorCode;

/// Most errors one response lists.
const MAX_ERRORS: usize = 50;

fn has_code(error: &ServerError) -> bool {
    error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some())
}

pub(super) fn set_code(error: &mut ServerError, code: ErrorCode) {
    if !has_code(error) {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code.as_str());
    }
}

/// How deeply selection sets may nest in the document (async-graphql's `limit_recursive_depth`,
/// checked right after parsing; its default, set explicitly so this module knows it).
pub const MAX_RECURSIVE_DEPTH: usize = 32;

/// How deeply selection sets nest in `doc`, counted as async-graphql's recursive-depth check
/// counts (fragment spreads count a level; each fragment is measured once, cycles add nothing).
/// Chains of fragments are followed at most [`MAX_WALK`] deep, so the walk cannot overflow the
/// stack (the expansion limit refuses such documents earlier anyway).
fn selection_depth(doc: &ExecutableDocument) -> usize {
    const MAX_WALK: usize = 1_000;
    fn depth<'a>(
        doc: &'a ExecutableDocument,
        set: &'a SelectionSet,
        sizes: &mut HashMap<&'a str, usize>,
        visiting: &mut HashSet<&'a str>,
    ) -> usize {
        if visiting.len() > MAX_WALK {
            return 0;
        }
        let mut deepest = 0;
        for item in &set.items {
            let below = match &item.node {
                Selection::Field(field) if field.node.selection_set.node.items.is_empty() => 0,
                Selection::Field(field) => {
                    1 + depth(doc, &field.node.selection_set.node, sizes, visiting)
                }
                Selection::InlineFragment(fragment) => {
                    1 + depth(doc, &fragment.node.selection_set.node, sizes, visiting)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    match (sizes.get(name), doc.fragments.get(name)) {
                        (Some(size), _) => 1 + size,
                        (None, Some(fragment)) if visiting.insert(name) => {
                            let size =
                                depth(doc, &fragment.node.selection_set.node, sizes, visiting);
                            visiting.remove(name);
                            sizes.insert(name, size);
                            1 + size
                        }
                        _ => 0,
                    }
                }
            };
            deepest = deepest.max(below);
        }
        deepest
    }
    let mut sizes = HashMap::new();
    doc.operations
        .iter()
        .map(|(_, op)| {
            depth(
                doc,
                &op.node.selection_set.node,
                &mut sizes,
                &mut HashSet::new(),
            )
        })
        .max()
        .unwrap_or(0)
}

/// Where async-graphql's own recursive-depth check (`limit_recursive_depth`) stops `doc`: the
/// first selection set, in the order it walks them, more than `max` levels deep (fragment
/// spreads count a level and are walked each time; a cycle of fragments is walked until it is
/// too deep). The walk ends at the first such set, and a document without one is no larger
/// than its expansion, which the limits bounded before.
fn too_deep_at(doc: &ExecutableDocument, max: usize) -> Option<Pos> {
    fn walk(
        doc: &ExecutableDocument,
        set: &Positioned<SelectionSet>,
        depth: usize,
        max: usize,
    ) -> Option<Pos> {
        if depth > max {
            return Some(set.pos);
        }
        set.node.items.iter().find_map(|item| match &item.node {
            Selection::Field(field) if field.node.selection_set.node.items.is_empty() => None,
            Selection::Field(field) => walk(doc, &field.node.selection_set, depth + 1, max),
            Selection::FragmentSpread(spread) => doc
                .fragments
                .get(&spread.node.fragment_name.node)
                .and_then(|fragment| walk(doc, &fragment.node.selection_set, depth + 1, max)),
            Selection::InlineFragment(fragment) => {
                walk(doc, &fragment.node.selection_set, depth + 1, max)
            }
        })
    }
    doc.operations
        .iter()
        .find_map(|(_, operation)| walk(doc, &operation.node.selection_set, 0, max))
}

/// The recursive-depth check of async-graphql, run before the library's (which then passes),
/// so that its error has a code: a document nested past the limit is QUERY_TOO_COMPLEX and
/// says by how much; one that only cycles through its fragments fails validation, in the
/// library's words.
pub(super) fn recursion(doc: &ExecutableDocument) -> Result<(), ServerError> {
    let Some(pos) = too_deep_at(doc, MAX_RECURSIVE_DEPTH) else {
        return Ok(());
    };
    let depth = selection_depth(doc);
    let mut error = if depth > MAX_RECURSIVE_DEPTH {
        let mut error = ServerError::new(
            format!(
                "the document nests selections {depth} levels deep, more than the limit of \
                 {MAX_RECURSIVE_DEPTH}"
            ),
            Some(pos),
        );
        set_code(&mut error, ErrorCode::QueryTooComplex);
        error
    } else {
        ServerError::new(
            format!(
                "The recursion depth of the query cannot be greater than `{MAX_RECURSIVE_DEPTH}`"
            ),
            Some(pos),
        )
    };
    set_code(&mut error, ErrorCode::GraphqlValidationFailed);
    Err(error)
}

/// A document that does not parse, coded: one nested past the parser's own recursion limit is
/// QUERY_TOO_COMPLEX, anything else GRAPHQL_PARSE_FAILED.
pub(super) fn parse_error(error: ParserError) -> ServerError {
    let too_deep = matches!(error, ParserError::RecursionLimitExceeded);
    let mut error = ServerError::from(error);
    if too_deep {
        error.message = "the document nests too deeply to be parsed".to_string();
        set_code(&mut error, ErrorCode::QueryTooComplex);
    } else {
        set_code(&mut error, ErrorCode::GraphqlParseFailed);
    }
    error
}

/// Every error of the validator is a validation failure, unless it was coded already (the cost
/// limits raise QUERY_TOO_COMPLEX themselves).
pub(super) fn validation(errors: &mut [ServerError]) {
    for error in errors {
        set_code(error, ErrorCode::GraphqlValidationFailed);
        hint_scalar(error);
    }
}

/// The validator says only `expected type "DateTime"` of a literal that does not parse; the
/// reader also needs to know what would.
fn hint_scalar(error: &mut ServerError) {
    use crate::graphql::scalars::{DATE_HINT, DATE_TIME_HINT};
    let hint = if error.message.ends_with("expected type \"DateTime\"") {
        DATE_TIME_HINT
    } else if error.message.ends_with("expected type \"Date\"") {
        DATE_HINT
    } else {
        return;
    };
    error.message = format!("{}: {hint}", error.message);
}

/// The last step of every response: at most [`MAX_ERRORS`] errors, each with a code; an
/// uncoded one from a resolver is an internal error, whose text is logged and replaced, and
/// which names `request_id` for the operator.
pub(super) fn finish(response: &mut Response, request_id: Option<&str>) {
    // A small hostile document can raise thousands of validation errors; the first ones
    // say what is wrong, the rest would only make the response huge.
    if response.errors.len() > MAX_ERRORS {
        let more = response.errors.len() - MAX_ERRORS;
        let code = response.errors[0]
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .cloned();
        response.errors.truncate(MAX_ERRORS);
        let mut summary = ServerError::new(format!("{more} more errors were left out"), None);
        if let Some(code) = code {
            summary
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", code);
        }
        response.errors.push(summary);
    }
    for error in &mut response.errors {
        if !has_code(error) {
            if error.path.is_empty() {
                // Raised outside parsing and validation but before execution (choosing the
                // operation, coercing variables): the request itself is not valid.
                set_code(error, ErrorCode::GraphqlValidationFailed);
            } else if is_input_coercion_error(error) {
                set_code(error, ErrorCode::GraphqlValidationFailed);
            } else {
                // Anything else uncoded is ours, and its text is not for the client.
                tracing::error!(message = %error.message, "uncoded error");
                error.message = "internal server error".to_string();
                set_code(error, ErrorCode::InternalServerError);
            }
        }
        // The request id lets an operator find the logged details of an internal error.
        let internal = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .is_some_and(|code| {
                *code == async_graphql::Value::from(ErrorCode::InternalServerError.as_str())
            });
        if internal {
            if let Some(id) = request_id {
                error
                    .extensions
                    .get_or_insert_with(Default::default)
                    .set("requestId", id);
            }
        }
    }
}

/// Whether an execution error is async-graphql failing to coerce an argument's value (a
/// variable that does not parse as its scalar, say). The library raises these as plain
/// messages, with no source and no extensions, so their text is the only handle; the tests
/// below fail if the library's wording changes.
fn is_input_coercion_error(error: &ServerError) -> bool {
    error.source.is_none()
        && (error.message.starts_with("Failed to parse \"")
            || error.message.starts_with("Expected input type \"")
            || error.message.starts_with("Invalid value"))
}

/// A variable of non-null type without a default must be given, and not as null (async-graphql
/// 7 lets both through). Checked for single-operation documents, where the operation is known.
pub(super) fn required_variables(
    doc: &ExecutableDocument,
    variables: &Variables,
) -> Result<(), ServerError> {
    let mut operations = doc.operations.iter();
    let (Some((_, operation)), None) = (operations.next(), operations.next()) else {
        return Ok(());
    };
    for definition in &operation.node.variable_definitions {
        let definition = &definition.node;
        if definition.var_type.node.nullable || definition.default_value.is_some() {
            continue;
        }
        let name = definition.name.node.as_str();
        let problem = match variables.get(&definition.name.node) {
            None => "was not provided",
            Some(async_graphql::Value::Null) => "must not be null",
            Some(_) => continue,
        };
        let mut error = ServerError::new(
            format!(
                "variable `${name}` of required type `{}` {problem}",
                definition.var_type.node
            ),
            Some(definition.name.pos),
        );
        set_code(&mut error, ErrorCode::GraphqlValidationFailed);
        return Err(error);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{InputType, InputValueError, Pos};

    fn coercion_error<T: InputType>(value: async_graphql::Value) -> ServerError {
        let Err(error): Result<T, InputValueError<T>> = T::parse(Some(value)) else {
            panic!("must not parse");
        };
        error.into_server_error(Pos::default())
    }

    /// Pins the library's wording that [`is_input_coercion_error`] relies on.
    #[test]
    fn the_library_words_coercion_errors_as_expected() {
        for error in [
            coercion_error::<i32>(async_graphql::Value::from("seven")),
            coercion_error::<i32>(async_graphql::Value::from(1u64 << 40)),
            coercion_error::<bool>(async_graphql::Value::from(1)),
            coercion_error::<chrono::DateTime<chrono::Utc>>(async_graphql::Value::from("today")),
            coercion_error::<Vec<i32>>(async_graphql::Value::List(vec!["x".into()])),
        ] {
            assert!(is_input_coercion_error(&error), "{}", error.message);
        }
        assert!(!is_input_coercion_error(&ServerError::new(
            "connection refused",
            None
        )));
    }

    fn code(error: &ServerError) -> Option<async_graphql::Value> {
        error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .cloned()
    }

    #[test]
    fn parse_errors_are_told_apart_by_kind_and_depth() {
        let parse = |text: &str| async_graphql::parser::parse_query(text);
        let error = parse_error(parse("{ a ").unwrap_err());
        assert_eq!(code(&error), Some("GRAPHQL_PARSE_FAILED".into()));
        let deep = format!("{}{}", "{ a ".repeat(40), "}".repeat(40));
        let error = recursion(&parse(&deep).unwrap()).unwrap_err();
        assert_eq!(code(&error), Some("QUERY_TOO_COMPLEX".into()));
        assert!(error.message.contains("39 levels"), "{}", error.message);
        let shallow = format!("{}{}", "{ a ".repeat(10), "}".repeat(10));
        assert!(recursion(&parse(&shallow).unwrap()).is_ok());
        // Fragments that spread each other: the library's error, as a validation failure.
        let cycle =
            parse("query { ...F } fragment F on Query { ...G } fragment G on Query { ...F }");
        let error = recursion(&cycle.unwrap()).unwrap_err();
        assert_eq!(code(&error), Some("GRAPHQL_VALIDATION_FAILED".into()));
        assert!(
            error.message.contains("recursion depth"),
            "{}",
            error.message
        );
    }

    /// The depth measured here is the one async-graphql limits, and its check stops a document
    /// where the library's does: a document at the limit parses, one level more does not.
    #[test]
    fn selection_depth_counts_as_the_library_does() {
        let build = |max| {
            async_graphql::Schema::build(
                crate::graphql::Query::default(),
                async_graphql::EmptyMutation,
                async_graphql::EmptySubscription,
            )
            .limit_recursive_depth(max)
            .finish()
        };
        for levels in [3usize, 10, 33] {
            let doc = format!(
                "query {{ ...F }} fragment F on Query {{ {}x{} }}",
                "a { ".repeat(levels),
                " }".repeat(levels)
            );
            let parsed = async_graphql::parser::parse_query(&doc).unwrap();
            let depth = selection_depth(&parsed);
            for (max, ok) in [(depth, true), (depth - 1, false)] {
                let response = futures::executor::block_on(build(max).execute(doc.as_str()));
                let stopped = response
                    .errors
                    .iter()
                    .find(|e| e.message.contains("recursion depth"));
                assert_eq!(
                    stopped.is_none(),
                    ok,
                    "{levels} levels, depth {depth}, limit {max}: {:?}",
                    response.errors
                );
                assert_eq!(
                    too_deep_at(&parsed, max),
                    stopped.map(|e| e.locations[0]),
                    "{levels} levels, limit {max}"
                );
            }
        }
    }
}
