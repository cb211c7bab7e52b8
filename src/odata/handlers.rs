//! The `/odata` routes: OData JSON Format 4.0 answers built from the query core's pages, counts
//! and look-ups, always through the calling key's [`TenantScope`].

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::intervals;
use super::metadata::metadata;
use super::parser::{self, Prop, DIALOGUE_PROPS, ENDPOINT_PROPS, NAVIGATION};
use crate::app::{request_id, AppState, Caller, Refusal};
use insights_core::keys::Scope;
use insights_core::query::{
    DialogueField, DialogueKey, DialogueListRequest, DialogueOrder, DialogueOrderField,
    DialogueSelection, EndpointField, EndpointListRequest, EndpointOrder, EndpointOrderField,
    PageArgs, PageLimits, Slot, TenantScope,
};

pub(super) use super::errors::*;
pub(super) use super::json::*;

pub(super) const JSON: &str = "application/json;odata.metadata=minimal";

/// The `/odata` routes, each answer with `OData-Version: 4.0` and a request id.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/odata", get(serve).fallback(read_only))
        .route("/odata/", get(serve).fallback(read_only))
        .route("/odata/{*rest}", get(serve).fallback(read_only))
        .layer(axum::middleware::map_response(with_version))
}

async fn with_version(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("OData-Version", HeaderValue::from_static("4.0"));
    response
}

/// Anything but GET (and HEAD): the OData endpoint only reads.
async fn read_only() -> Response {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "the OData endpoint is read-only: use GET",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

/// Every `/odata` request: authenticate as for `/graphql`, then answer within the time bound.
async fn serve(
    State(state): State<AppState>,
    caller: Result<Caller, Refusal>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    let principal = match caller {
        Ok(Caller(principal)) => principal,
        Err(refusal) => {
            return refusal.respond(|status, _, message| error_response(status, message))
        }
    };
    if !principal.scopes.contains(Scope::Read) {
        return Failure::new(StatusCode::FORBIDDEN, "this API key has no `read` scope")
            .into_response();
    }
    let scope = match state.scope_for_request(&principal, &headers) {
        Ok(scope) => scope,
        Err(error) => return Failure::from(error).into_response(),
    };
    let base = service_root(&headers);
    let id = request_id(&headers);
    let request = Request {
        scope: &scope,
        base: &base,
        page_size: state.odata_page_size,
        max_stats_rows: state.max_stats_rows,
    };
    let answer = request.answer(uri.path(), query.as_deref().unwrap_or(""));
    match tokio::time::timeout(state.request_timeout, answer).await {
        Ok(Ok(response)) => response,
        Ok(Err(failure)) => failure.into_response(),
        Err(_) => {
            tracing::warn!(request_id = %id, "OData request timed out");
            Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the request took longer than {} s and was stopped (request id {id})",
                    state.request_timeout.as_secs()
                ),
            )
            .into_response()
        }
    }
}

/// `http://host/odata`, from the request's `Host` (and `X-Forwarded-Proto` behind a proxy).
fn service_root(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}/odata")
}

/// The system query options of a request, as given (text), each at most once, and its custom
/// query options (those without a `$`).
#[derive(Default, Debug)]
pub(super) struct Options {
    pub(super) filter: Option<String>,
    pub(super) orderby: Option<String>,
    top: Option<String>,
    skip: Option<String>,
    count: Option<String>,
    select: Option<String>,
    pub(super) expand: Option<String>,
    pub(super) skiptoken: Option<String>,
    format: Option<String>,
    /// Custom options: ignored by the sets that take none (`QueueIntervals` reads `interval`
    /// and `timeZone`).
    pub(super) custom: Vec<(String, String)>,
}

impl Options {
    fn parse(query: &str) -> Result<Self, Failure> {
        let mut options = Options::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if !key.starts_with('$') {
                // Custom query options: kept for the sets that read them, else ignored.
                if options.custom.len() < 16 && key.len() <= 64 {
                    options.custom.push((key.into_owned(), value.into_owned()));
                }
                continue;
            }
            let slot = match key.to_ascii_lowercase().as_str() {
                "$filter" => &mut options.filter,
                "$orderby" => &mut options.orderby,
                "$top" => &mut options.top,
                "$skip" => &mut options.skip,
                "$count" => &mut options.count,
                "$select" => &mut options.select,
                "$expand" => &mut options.expand,
                "$skiptoken" => &mut options.skiptoken,
                "$format" => &mut options.format,
                "$search" | "$apply" | "$compute" | "$levels" | "$index" | "$deltatoken"
                | "$schemaversion" | "$id" => {
                    return Err(Failure::new(
                        StatusCode::NOT_IMPLEMENTED,
                        format!("the query option `{key}` is not supported"),
                    ))
                }
                _ => {
                    let shown: String = key.chars().take(40).collect();
                    return Err(Failure::bad(format!(
                        "`{shown}` is not an OData system query option"
                    )));
                }
            };
            if slot.is_some() {
                return Err(Failure::bad(format!(
                    "the query option `{key}` is given twice"
                )));
            }
            *slot = Some(value.into_owned());
        }
        if let Some(format) = &options.format {
            let f = format.to_ascii_lowercase();
            if f != "json" && !f.starts_with("application/json") {
                return Err(Failure::new(
                    StatusCode::NOT_IMPLEMENTED,
                    format!("`$format` {format} is not supported: answers are JSON"),
                ));
            }
        }
        Ok(options)
    }

    pub(super) fn count(&self) -> Result<bool, Failure> {
        match self
            .count
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(Failure::bad(
                "`$count` at position 1: expected true or false",
            )),
        }
    }

    pub(super) fn top(&self) -> Result<Option<u64>, Failure> {
        Ok(self
            .top
            .as_deref()
            .map(|t| parser::parse_count_option("$top", t))
            .transpose()?)
    }

    pub(super) fn skip(&self) -> Result<u64, Failure> {
        Ok(self
            .skip
            .as_deref()
            .map(|t| parser::parse_count_option("$skip", t))
            .transpose()?
            .unwrap_or(0))
    }

    pub(super) fn select(&self, props: &[Prop]) -> Result<Option<Vec<usize>>, Failure> {
        Ok(self
            .select
            .as_deref()
            .map(|s| parser::parse_select(s, props))
            .transpose()?)
    }

    /// The link to the next page: the same options, the rest of `$top`, no `$skip` (the skip
    /// token already stands past it), the set's custom options (`custom`) and the token.
    pub(super) fn next_link(
        &self,
        base: &str,
        set: &str,
        top_left: Option<u64>,
        token: &str,
        custom: &[(&str, String)],
    ) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in custom {
            query.append_pair(key, value);
        }
        for (key, value) in [
            ("$filter", &self.filter),
            ("$orderby", &self.orderby),
            ("$count", &self.count),
            ("$select", &self.select),
            ("$expand", &self.expand),
            ("$format", &self.format),
        ] {
            if let Some(value) = value {
                query.append_pair(key, value);
            }
        }
        if let Some(top) = top_left {
            query.append_pair("$top", &top.to_string());
        }
        query.append_pair("$skiptoken", token);
        format!("{base}/{set}?{}", query.finish())
    }
}

/// The Dialogue properties as the core's fields (index for index).
fn dialogue_fields() -> Vec<Option<DialogueField>> {
    DialogueField::ALL.iter().copied().map(Some).collect()
}

/// The Endpoint properties the core filters on.
const ENDPOINT_FIELDS: [Option<EndpointField>; 5] = [
    Some(EndpointField::Id),
    Some(EndpointField::Name),
    Some(EndpointField::Role),
    None,
    None,
];

/// The core's order field for a Dialogue property, when the core orders by it.
fn dialogue_order_field(index: usize) -> Option<DialogueOrderField> {
    Some(match DialogueField::ALL[index] {
        DialogueField::Id => DialogueOrderField::Id,
        DialogueField::StartTimestamp => DialogueOrderField::StartTimestamp,
        DialogueField::EndTimestamp => DialogueOrderField::EndTimestamp,
        DialogueField::OrderNumber => DialogueOrderField::OrderNumber,
        DialogueField::QueueDuration => DialogueOrderField::QueueDuration,
        DialogueField::SessionDuration => DialogueOrderField::SessionDuration,
        DialogueField::InitialTalkDuration => DialogueOrderField::InitialTalkDuration,
        _ => return None,
    })
}

fn unsupported_order(props: &[Prop], index: usize, position: usize) -> Failure {
    Failure::new(
        StatusCode::NOT_IMPLEMENTED,
        format!(
            "`$orderby` at position {position}: ordering by `{}` is not supported",
            props[index].name
        ),
    )
}

/// Which entity set a path names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Set {
    Dialogues,
    Endpoints,
}

impl Set {
    fn name(self) -> &'static str {
        match self {
            Set::Dialogues => "Dialogues",
            Set::Endpoints => "Endpoints",
        }
    }

    fn props(self) -> &'static [Prop] {
        match self {
            Set::Dialogues => &DIALOGUE_PROPS,
            Set::Endpoints => &ENDPOINT_PROPS,
        }
    }
}

pub(super) struct Request<'a> {
    pub(super) scope: &'a TenantScope,
    pub(super) base: &'a str,
    pub(super) page_size: usize,
    /// Most rows one stats call may produce (`--max-stats-rows`): `QueueIntervals` walks its
    /// window in chunks of at most this many.
    pub(super) max_stats_rows: usize,
}

impl Request<'_> {
    async fn answer(&self, path: &str, query: &str) -> Result<Response, Failure> {
        let raw = path.strip_prefix("/odata").unwrap_or(path);
        let path = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| Failure::bad("the path is not valid UTF-8"))?;
        let path = path.trim_start_matches('/');
        let options = Options::parse(query)?;
        if path.is_empty() {
            return Ok(self.service_document());
        }
        if path == "$metadata" {
            return Ok(([(header::CONTENT_TYPE, "application/xml")], metadata()).into_response());
        }
        let (head, rest) = match path.find('/') {
            Some(i) => (&path[..i], Some(&path[i + 1..])),
            None => (path, None),
        };
        let (name, key) = match head.find('(') {
            Some(i) if head.ends_with(')') => (&head[..i], Some(&head[i + 1..head.len() - 1])),
            Some(_) => {
                return Err(Failure::bad(format!(
                    "`{head}` is not a key in parentheses"
                )))
            }
            None => (head, None),
        };
        if name.eq_ignore_ascii_case(intervals::SET) {
            return self.intervals(key, rest, &options).await;
        }
        let set = if name.eq_ignore_ascii_case("Dialogues") {
            Set::Dialogues
        } else if name.eq_ignore_ascii_case("Endpoints") {
            Set::Endpoints
        } else {
            let shown: String = name.chars().take(60).collect();
            return Err(Failure::not_found(format!(
                "there is no entity set `{shown}` (Dialogues, Endpoints, QueueIntervals)"
            )));
        };
        match (key, rest) {
            (None, None | Some("")) => self.collection(set, &options).await,
            (None, Some("$count")) => self.count(set, &options).await,
            (Some(key), None | Some("")) => {
                let key = parser::parse_key(key)?;
                self.entity(set, &key, &options).await
            }
            (Some(_), Some(segment)) => Err(Failure::new(
                StatusCode::NOT_IMPLEMENTED,
                format!("the path segment `{segment}` after a key is not supported: use $expand"),
            )),
            (None, Some(segment)) => Err(Failure::not_found(format!(
                "`{}/{segment}` is not a resource of this service",
                set.name()
            ))),
        }
    }

    fn service_document(&self) -> Response {
        let body = json!({
            "@odata.context": format!("{}/$metadata", self.base),
            "value": [
                { "name": "Dialogues", "kind": "EntitySet", "url": "Dialogues" },
                { "name": "Endpoints", "kind": "EntitySet", "url": "Endpoints" },
                { "name": intervals::SET, "kind": "EntitySet", "url": intervals::SET },
            ]
        });
        json_response(body.to_string())
    }

    async fn count(&self, set: Set, options: &Options) -> Result<Response, Failure> {
        let n = match set {
            Set::Dialogues => {
                let filter = options
                    .filter
                    .as_deref()
                    .map(|f| parser::parse_filter(f, &DIALOGUE_PROPS, &dialogue_fields()))
                    .transpose()?;
                self.scope.count_dialogues(filter.as_ref()).await?
            }
            Set::Endpoints => {
                let filter = options
                    .filter
                    .as_deref()
                    .map(|f| parser::parse_filter(f, &ENDPOINT_PROPS, &ENDPOINT_FIELDS))
                    .transpose()?;
                self.scope.count_endpoints(filter.as_ref()).await?
            }
        };
        Ok(([(header::CONTENT_TYPE, "text/plain")], n.to_string()).into_response())
    }

    /// The context URL of a response about `set`.
    fn context(
        &self,
        set: Set,
        select: &Option<Vec<usize>>,
        expand: &[Slot],
        suffix: &str,
    ) -> String {
        let mut items: Vec<String> = match select {
            Some(indexes) => indexes
                .iter()
                .map(|i| set.props()[*i].name.to_string())
                .collect(),
            None if expand.is_empty() => Vec::new(),
            None => vec!["*".into()],
        };
        items.extend(expand.iter().map(|s| format!("{}()", slot_name(*s))));
        if items.is_empty() {
            format!("{}/$metadata#{}{suffix}", self.base, set.name())
        } else {
            format!(
                "{}/$metadata#{}({}){suffix}",
                self.base,
                set.name(),
                items.join(",")
            )
        }
    }

    async fn collection(&self, set: Set, options: &Options) -> Result<Response, Failure> {
        let top = options.top()?;
        let skip = options.skip()?;
        let want_count = options.count()?;
        let select = options.select(set.props())?;
        let size = top.map_or(self.page_size, |t| t.min(self.page_size as u64) as usize);
        let limits = PageLimits {
            default_size: self.page_size,
            max_size: self.page_size,
        };
        let page_args = PageArgs {
            first: Some(size as i32),
            after: options.skiptoken.clone(),
            last: None,
            before: None,
        };
        let (entities, count, more, token, expand) = match set {
            Set::Dialogues => {
                let filter = options
                    .filter
                    .as_deref()
                    .map(|f| parser::parse_filter(f, &DIALOGUE_PROPS, &dialogue_fields()))
                    .transpose()?;
                let mut order = Vec::new();
                if let Some(text) = &options.orderby {
                    for (index, descending, position) in
                        parser::parse_orderby(text, &DIALOGUE_PROPS)?
                    {
                        let field = dialogue_order_field(index)
                            .ok_or_else(|| unsupported_order(&DIALOGUE_PROPS, index, position))?;
                        order.push(DialogueOrder { field, descending });
                    }
                }
                if order.is_empty() {
                    // A stable order, so $top/$skip and next links never skip or repeat a row.
                    order.push(DialogueOrder {
                        field: DialogueOrderField::Id,
                        descending: false,
                    });
                }
                let expand = options
                    .expand
                    .as_deref()
                    .map(parser::parse_expand)
                    .transpose()?
                    .unwrap_or_default();
                let selected = selected(&select, DIALOGUE_PROPS.len());
                let request = DialogueListRequest {
                    filter,
                    order,
                    page: page_args,
                    selection: DialogueSelection {
                        fields: selected.iter().map(|i| DialogueField::ALL[*i]).collect(),
                        endpoints: expand.clone(),
                    },
                };
                let page = self
                    .scope
                    .dialogue_page_skipping(&request, limits, skip)
                    .await?;
                let count = if want_count {
                    Some(self.scope.count_dialogues(request.filter.as_ref()).await?)
                } else {
                    None
                };
                let entities: Vec<String> = page
                    .rows
                    .iter()
                    .map(|d| {
                        let mut obj = Obj::new();
                        dialogue_members(&mut obj, d, &selected, &expand, &page.endpoints);
                        obj.finish()
                    })
                    .collect();
                (
                    entities,
                    count,
                    page.info.has_next_page,
                    page.info.end_cursor,
                    expand,
                )
            }
            Set::Endpoints => {
                if options.expand.is_some() {
                    return Err(Failure::bad(
                        "`$expand` at position 1: Endpoints have no navigation properties",
                    ));
                }
                let filter = options
                    .filter
                    .as_deref()
                    .map(|f| parser::parse_filter(f, &ENDPOINT_PROPS, &ENDPOINT_FIELDS))
                    .transpose()?;
                let mut order = Vec::new();
                if let Some(text) = &options.orderby {
                    for (index, descending, position) in
                        parser::parse_orderby(text, &ENDPOINT_PROPS)?
                    {
                        let field = match ENDPOINT_PROPS[index].name {
                            "id" => EndpointOrderField::Id,
                            "name" => EndpointOrderField::Name,
                            _ => return Err(unsupported_order(&ENDPOINT_PROPS, index, position)),
                        };
                        order.push(EndpointOrder { field, descending });
                    }
                }
                let request = EndpointListRequest {
                    filter,
                    order,
                    page: page_args,
                };
                let page = self
                    .scope
                    .endpoint_page_skipping(&request, limits, skip)
                    .await?;
                let count = if want_count {
                    Some(self.scope.count_endpoints(request.filter.as_ref()).await?)
                } else {
                    None
                };
                let selected = selected(&select, ENDPOINT_PROPS.len());
                let entities: Vec<String> = page
                    .rows
                    .iter()
                    .map(|e| {
                        let mut obj = Obj::new();
                        endpoint_members(&mut obj, e, &selected);
                        obj.finish()
                    })
                    .collect();
                (
                    entities,
                    count,
                    page.info.has_next_page,
                    page.info.end_cursor,
                    Vec::new(),
                )
            }
        };
        let returned = entities.len() as u64;
        let top_left = top.map(|t| t.saturating_sub(returned));
        let next = match (more, token) {
            (true, Some(token)) if top_left != Some(0) => {
                Some(options.next_link(self.base, set.name(), top_left, &token, &[]))
            }
            _ => None,
        };
        let mut body = Obj::new();
        body.put(
            "@odata.context",
            &json!(self.context(set, &select, &expand, "")),
        );
        if let Some(count) = count {
            body.put("@odata.count", &json!(count));
        }
        body.put_raw("value", &format!("[{}]", entities.join(",")));
        if let Some(next) = next {
            body.put("@odata.nextLink", &json!(next));
        }
        Ok(json_response(body.finish()))
    }

    async fn entity(&self, set: Set, key: &str, options: &Options) -> Result<Response, Failure> {
        let select = options.select(set.props())?;
        let selected = selected(&select, set.props().len());
        let not_found = || {
            Failure::not_found(format!(
                "there is no {} with id '{key}'",
                &set.name()[..set.name().len() - 1]
            ))
        };
        let mut body = Obj::new();
        match set {
            Set::Dialogues => {
                let expand = options
                    .expand
                    .as_deref()
                    .map(parser::parse_expand)
                    .transpose()?
                    .unwrap_or_default();
                let selection = DialogueSelection {
                    fields: selected.iter().map(|i| DialogueField::ALL[*i]).collect(),
                    endpoints: expand.clone(),
                };
                let (d, endpoints) = self
                    .scope
                    .find_dialogue(&DialogueKey::Id(key.to_string()), &selection)
                    .await?
                    .ok_or_else(not_found)?;
                let context = self.context(set, &select, &expand, "/$entity");
                body.put("@odata.context", &json!(context));
                dialogue_members(&mut body, &d, &selected, &expand, &endpoints);
            }
            Set::Endpoints => {
                if options.expand.is_some() {
                    return Err(Failure::bad(
                        "`$expand` at position 1: Endpoints have no navigation properties",
                    ));
                }
                let found = self.scope.endpoints_by_ids(&[key.to_string()]).await?;
                let e = found.first().ok_or_else(not_found)?;
                let context = self.context(set, &select, &[], "/$entity");
                body.put("@odata.context", &json!(context));
                endpoint_members(&mut body, e, &selected);
            }
        }
        Ok(json_response(body.finish()))
    }
}

fn selected(select: &Option<Vec<usize>>, all: usize) -> Vec<usize> {
    select.clone().unwrap_or_else(|| (0..all).collect())
}

pub(super) fn slot_name(slot: Slot) -> &'static str {
    NAVIGATION
        .iter()
        .find(|(_, s)| *s == slot)
        .map(|(n, _)| *n)
        .expect("every slot has a navigation property")
}
