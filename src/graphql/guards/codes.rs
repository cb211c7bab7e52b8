//! Gives every error an `extensions.code` (API.md §6), including those async-graphql raises
//! itself while parsing and validating.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::parser::Error as ParserError;
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};

use super::RequestId;
use insights_core::error::ErrorCode;

/// Most errors one response lists.
const MAX_ERRORS: usize = 50;

pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

fn has_code(error: &ServerError) -> bool {
    error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some())
}

fn set_code(error: &mut ServerError, code: ErrorCode) {
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
/// stack (`shape::ShapeLimits` refuses such documents earlier anyway).
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

/// The code of an uncoded error out of the parse step. Which check failed is read from what
/// the library exposes, not from its message: the parser's typed error, and the document's
/// depth against the configured recursive-depth limit.
fn parse_error(query: &str, mut error: ServerError) -> ServerError {
    match async_graphql::parser::parse_query(query) {
        Err(ParserError::RecursionLimitExceeded) => {
            error.message = "the document nests too deeply to be parsed".to_string();
            set_code(&mut error, ErrorCode::QueryTooComplex);
        }
        Err(_) => set_code(&mut error, ErrorCode::GraphqlParseFailed),
        Ok(doc) => {
            let depth = selection_depth(&doc);
            if depth > MAX_RECURSIVE_DEPTH {
                error.message = format!(
                    "the document nests selections {depth} levels deep, more than the limit of \
                     {MAX_RECURSIVE_DEPTH}"
                );
                set_code(&mut error, ErrorCode::QueryTooComplex);
            } else {
                // It parsed, and is not too deep: some other check of the document failed.
                set_code(&mut error, ErrorCode::GraphqlValidationFailed);
            }
        }
    }
    error
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await.map_err(|error| {
            if has_code(&error) {
                error
            } else {
                parse_error(query, error)
            }
        })?;
        check_required_variables(&doc, variables)?;
        Ok(doc)
    }

    /// Every error of the validation step is a validation failure, unless an extension
    /// nearer the validator coded it (`shape::Costs` raises QUERY_TOO_COMPLEX itself).
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|mut errors| {
            for error in &mut errors {
                set_code(error, ErrorCode::GraphqlValidationFailed);
            }
            errors
        })
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
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
                if let Some(id) = ctx.data_opt::<RequestId>() {
                    error
                        .extensions
                        .get_or_insert_with(Default::default)
                        .set("requestId", id.0.clone());
                }
            }
        }
        response
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
fn check_required_variables(doc: &ExecutableDocument, variables: &Variables) -> ServerResult<()> {
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

    #[test]
    fn parse_errors_are_told_apart_by_kind_and_depth() {
        let code = |error: &ServerError| {
            error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .cloned()
        };
        let uncoded = || ServerError::new("whatever the library said", None);
        let error = parse_error("{ a ", uncoded());
        assert_eq!(code(&error), Some("GRAPHQL_PARSE_FAILED".into()));
        let deep = format!("{}{}", "{ a ".repeat(40), "}".repeat(40));
        let error = parse_error(&deep, uncoded());
        assert_eq!(code(&error), Some("QUERY_TOO_COMPLEX".into()));
        assert!(error.message.contains("39 levels"), "{}", error.message);
        let shallow = format!("{}{}", "{ a ".repeat(10), "}".repeat(10));
        let error = parse_error(&shallow, uncoded());
        assert_eq!(code(&error), Some("GRAPHQL_VALIDATION_FAILED".into()));
    }

    /// The depth measured here is the one async-graphql limits: a document at the limit
    /// parses, one level more does not.
    #[test]
    fn selection_depth_counts_as_the_library_does() {
        let build = |max| {
            async_graphql::Schema::build(
                super::super::Query::default(),
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
                let too_deep = response
                    .errors
                    .iter()
                    .any(|e| e.message.contains("recursion depth"));
                assert_eq!(
                    !too_deep, ok,
                    "{levels} levels, depth {depth}, limit {max}: {:?}",
                    response.errors
                );
            }
        }
    }
}
