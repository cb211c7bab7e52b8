//! A string literal where the schema expects an enum (`outcome: { eq: "ABANDONED" }`) is a
//! validation error in GraphQL ("Values of Correct Type"), though async-graphql's validator
//! lets it through and coerces it. Checked here over the parsed document against the schema's
//! registry: arguments, the fields of input objects, lists, and the default values of
//! variables. Variables themselves are JSON, which has no enums: there a string is right.
//! The errors are reported with the validator's (see the module above).
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{Pos, ServerError, Value as ConstValue};

use insights_core::error::ErrorCode;

/// Most string-for-enum errors one request collects.
const MAX_ENUM_ERRORS: usize = 50;

struct EnumCheck<'a> {
    registry: &'a Registry,
    errors: Vec<ServerError>,
}

impl EnumCheck<'_> {
    /// Checks `value`, of GraphQL type `ty` (such as `[Outcome!]!`), at `path` (such as
    /// `filter.outcome.eq`) within `context` (such as "argument `filter` of `Query.dialogues`").
    fn value(
        &mut self,
        value: &ConstValue,
        ty: &str,
        path: &dyn Fn() -> String,
        context: &dyn Fn() -> String,
        pos: Pos,
    ) {
        if self.errors.len() >= MAX_ENUM_ERRORS {
            return;
        }
        match MetaTypeName::create(ty) {
            MetaTypeName::NonNull(inner) => self.value(value, inner, path, context, pos),
            MetaTypeName::List(inner) => match value {
                ConstValue::List(items) => {
                    for item in items {
                        self.value(item, inner, path, context, pos);
                    }
                }
                // A single value where a list is expected stands for a list of one.
                other => self.value(other, inner, path, context, pos),
            },
            MetaTypeName::Named(name) => match (self.registry.types.get(name), value) {
                (Some(MetaType::Enum { .. }), ConstValue::String(text)) => {
                    let path = path();
                    let place = if path.contains('.') {
                        format!("`{path}` in {}", context())
                    } else {
                        context()
                    };
                    let mut error = ServerError::new(
                        format!(
                            "{place} expects a value of the enum `{name}`, not the string {}: \
                             write enum values without quotes",
                            ConstValue::String(text.clone())
                        ),
                        Some(pos),
                    );
                    error
                        .extensions
                        .get_or_insert_with(Default::default)
                        .set("code", ErrorCode::GraphqlValidationFailed.as_str());
                    self.errors.push(error);
                }
                (Some(MetaType::InputObject { input_fields, .. }), ConstValue::Object(fields)) => {
                    for (key, item) in fields {
                        if let Some(field) = input_fields.get(key.as_str()) {
                            let nested = || format!("{}.{key}", path());
                            self.value(item, &field.ty, &nested, context, pos);
                        }
                    }
                }
                _ => {}
            },
        }
    }

    /// Checks the arguments in `set`, whose fields belong to the type named `parent`.
    fn selections(&mut self, set: &SelectionSet, parent: &str) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    let Some(meta) = self
                        .registry
                        .types
                        .get(parent)
                        .and_then(|t| t.field_by_name(name))
                    else {
                        // Unknown fields are the validator's to report.
                        continue;
                    };
                    for (arg, value) in &field.node.arguments {
                        if let Some(input) = meta.args.get(arg.node.as_str()) {
                            let path = || arg.node.to_string();
                            let context =
                                || format!("argument `{}` of `{parent}.{name}`", arg.node);
                            // Variables are JSON, where strings stand for enums.
                            let literal = value
                                .node
                                .clone()
                                .into_const_with(|_| Ok::<_, ()>(ConstValue::Null))
                                .unwrap_or_default();
                            self.value(&literal, &input.ty, &path, &context, value.pos);
                        }
                    }
                    self.selections(
                        &field.node.selection_set.node,
                        MetaTypeName::concrete_typename(&meta.ty),
                    );
                }
                Selection::InlineFragment(fragment) => self.selections(
                    &fragment.node.selection_set.node,
                    fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(parent, |c| c.node.on.node.as_str()),
                ),
                // Each fragment is checked once, from its definition.
                Selection::FragmentSpread(_) => {}
            }
        }
    }

    fn document(&mut self, doc: &ExecutableDocument) {
        for (_, operation) in doc.operations.iter() {
            let operation = &operation.node;
            for definition in &operation.variable_definitions {
                let definition = &definition.node;
                if let Some(default) = &definition.default_value {
                    let path = || format!("${}", definition.name.node);
                    let context = || format!("the default value of `${}`", definition.name.node);
                    self.value(
                        &default.node,
                        &definition.var_type.node.to_string(),
                        &path,
                        &context,
                        default.pos,
                    );
                }
            }
            let root = match operation.ty {
                OperationType::Query => Some(self.registry.query_type.as_str()),
                OperationType::Mutation => self.registry.mutation_type.as_deref(),
                OperationType::Subscription => self.registry.subscription_type.as_deref(),
            };
            if let Some(root) = root {
                self.selections(&operation.selection_set.node, root);
            }
        }
        for fragment in doc.fragments.values() {
            self.selections(
                &fragment.node.selection_set.node,
                fragment.node.type_condition.node.on.node.as_str(),
            );
        }
    }
}

/// The string-for-enum errors of `doc` (at most [`MAX_ENUM_ERRORS`]).
pub(super) fn errors(doc: &ExecutableDocument, registry: &Registry) -> Vec<ServerError> {
    let mut check = EnumCheck {
        registry,
        errors: Vec::new(),
    };
    check.document(doc);
    check.errors
}
