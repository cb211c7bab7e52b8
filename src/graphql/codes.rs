//! Gives every error an `extensions.code` (API.md §6), including those async-graphql raises
//! itself while parsing and validating.
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};

use super::RequestId;
use crate::error::ErrorCode;

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

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await.map_err(|mut error| {
            // The parser's and async-graphql's nesting limits are limits, not syntax errors.
            let limit = error.message.contains("recursion depth")
                || error.message.contains("recursion limit exceeded");
            set_code(
                &mut error,
                if limit {
                    ErrorCode::QueryTooComplex
                } else {
                    ErrorCode::GraphqlParseFailed
                },
            );
            error
        })?;
        check_required_variables(&doc, variables)?;
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|mut errors| {
            for error in &mut errors {
                let limit = error.message.contains("too complex")
                    || error.message.contains("nested too deep");
                set_code(
                    error,
                    if limit {
                        ErrorCode::QueryTooComplex
                    } else {
                        ErrorCode::GraphqlValidationFailed
                    },
                );
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
                } else if error.message.starts_with("Failed to parse")
                    || error.message.starts_with("Invalid value")
                {
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
