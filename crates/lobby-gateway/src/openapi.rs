//! The gateway's OpenAPI document (`/openapi.json`) and interactive docs (`/docs`).
//!
//! The gateway serves three sets of paths, and the document has all of them: its own
//! (`/status`), the lobby service's both at the root and under `/ls`, and the command API's
//! under `/ts`, fetched from a command API instance at run time so the two cannot drift
//! apart and the gateway needs no part of the command API's code. The fetched document is
//! kept once one arrives; while no instance answers, `/openapi.json` is a 503.
//! The refusals the gateway itself adds (429 from its rate limit on every path, 413 from its
//! body limit, 503/504 from its breaker and timeout on forwarded paths) are added to the
//! operations here, once, rather than written into each handler's annotation.

use crate::AppState;
use crate::error::GatewayError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use http_kit::ApiError;
use http_kit::openapi::{BearerScheme, Detail, Invalid};
use http_kit::routes::StatusBody;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::{OpenApi as Document, Ref, RefOr, Response, ResponseBuilder};

/// The command API's schema of the start-booking body, which the gateway passes on as it is.
const BOOKING_BODY: &str = "NewBooking";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Train booking lobby gateway",
        description = "The door users enter through: lobbies (at the root and under /ls), live \
        websocket lobbies, and the command API's paths forwarded under /ts. Every path may \
        answer 429 over the per-client rate limit, with Retry-After. With AUTH=required \
        (the default) opening and closing lobbies needs an admin's access token, and \
        start-booking and the websockets any signed-in caller's; reads stay open. /ws/me \
        carries the caller's own order notifications and needs a signed-in caller whatever \
        AUTH is."
    ),
    paths(crate::gateway_status, crate::lobby_status),
    components(schemas(StatusBody, Detail, Invalid))
)]
struct GatewayDoc;

/// The lobby service's paths (and the user's own websocket), served both at the root and
/// under `/ls`. The ones that need a
/// token with `AUTH=required` name the `bearer` scheme; with `AUTH=off` they simply ignore it.
#[derive(OpenApi)]
#[openapi(
    paths(
        crate::lobbies::list,
        crate::lobbies::show,
        crate::lobbies::create,
        crate::lobbies::remove,
        crate::lobbies::start_booking,
        crate::ws::connect,
        crate::me::connect,
    ),
    components(schemas(
        crate::lobbies::NewLobby,
        crate::lobbies::LobbyView,
        crate::lobbies::BookingStarted,
        Detail,
        Invalid,
    )),
    modifiers(&BearerScheme)
)]
struct LobbyDoc;

/// The whole document around the command API's `upstream` one, built anew for each request
/// (it is small and rarely asked for).
pub(crate) fn api(upstream: Document) -> Document {
    let mut lobbies = LobbyDoc::openapi();
    for_each_operation(&mut lobbies, |operation| {
        if operation.operation_id.as_deref() == Some("start_booking") {
            operation.request_body = Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/json",
                        utoipa::openapi::ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name(BOOKING_BODY)))
                            .build(),
                    )
                    .required(Some(utoipa::openapi::Required::True))
                    .build(),
            );
        }
    });
    let under_ls = with_operation_prefix(lobbies.clone(), "ls_");
    let mut forwarded = with_operation_prefix(upstream, "ts_");
    for_each_operation(&mut forwarded, |operation| {
        add_response(
            operation,
            "503",
            "No command API instance available, or its breaker is open",
        );
        add_response(operation, "504", "The command API did not answer in time");
    });
    let mut document = GatewayDoc::openapi()
        .merge_from(lobbies)
        .nest("/ls", under_ls)
        .nest("/ts", forwarded);
    for_each_operation(&mut document, |operation| {
        add_response(
            operation,
            "429",
            "Over the rate limit; Retry-After says when to retry",
        );
        if operation.request_body.is_some() {
            add_response(operation, "413", "Body over the limit");
        }
    });
    document
}

/// `/openapi.json`.
pub(crate) async fn document(
    State(state): State<AppState>,
) -> Result<Json<Document>, GatewayError> {
    let upstream = state
        .inner
        .upstream_document
        .get_or_try_init(|| fetch(&state))
        .await?;
    Ok(Json(api(upstream.clone())))
}

/// The command API's own document, from the next instance that answers.
async fn fetch(state: &AppState) -> Result<Document, GatewayError> {
    let answer = state
        .inner
        .upstreams
        .send(
            Method::GET,
            "/openapi.json",
            &HeaderMap::new(),
            Bytes::new(),
        )
        .await?;
    if answer.status != StatusCode::OK {
        return Err(ApiError::Unavailable("the command API has no document to give".into()).into());
    }
    serde_json::from_slice(&answer.body).map_err(|e| ApiError::Unavailable(Box::new(e)).into())
}

/// `/docs`: the interactive docs, which load `/openapi.json` in the browser.
pub(crate) fn docs() -> utoipa_scalar::Scalar<Document> {
    use utoipa_scalar::Servable;
    const PAGE: &str = r#"<!doctype html>
<html>
<head>
  <title>Train booking lobby gateway</title>
  <meta charset="utf-8"/>
  <meta name="viewport" content="width=device-width, initial-scale=1"/>
</head>
<body>
  <script id="api-reference" data-url="/openapi.json"></script>
  <script src="https://cdn.jsdelivr.net/npm/@scalar/api-reference"></script>
</body>
</html>"#;
    utoipa_scalar::Scalar::with_url("/docs", GatewayDoc::openapi()).custom_html(PAGE)
}

/// Operation ids must be unique in a document, and the same handlers appear more than once.
fn with_operation_prefix(mut document: Document, prefix: &str) -> Document {
    for_each_operation(&mut document, |operation| {
        if let Some(id) = &mut operation.operation_id {
            id.insert_str(0, prefix);
        }
    });
    document
}

fn for_each_operation(document: &mut Document, mut change: impl FnMut(&mut Operation)) {
    for item in document.paths.paths.values_mut() {
        operations(item).for_each(&mut change);
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// Documents a gateway refusal (always `{"detail": ...}`) unless the operation already does.
fn add_response(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::T(detail_response(description)));
}

fn detail_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Detail")))
                .build(),
        )
        .build()
}
