//! The gateway's OpenAPI document (`/openapi.json`) and interactive docs (`/docs`).
//!
//! The gateway serves three sets of paths, and the document has all of them: its own
//! (`/status`), the lobby service's both at the root and under `/ls`, and the command API's
//! under `/ts`, taken from the command API's own document so the two cannot drift apart.
//! The refusals the gateway itself adds (429 from its rate limit on every path, 413 from its
//! body limit, 503/504 from its breaker and timeout on forwarded paths) are added to the
//! operations here, once, rather than written into each handler's annotation.

use axum::Json;
use command_api::openapi::{Detail, Invalid, NewBooking, StatusBody};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{OpenApi, ToSchema};

/// A new lobby.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes a request body for the OpenAPI document only"
)]
pub(crate) struct NewLobby {
    /// An existing train without an open lobby.
    #[schema(example = 1)]
    train_id: i64,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Train booking lobby gateway",
        description = "The door users enter through: lobbies (at the root and under /ls), live \
        websocket lobbies, and the command API's paths forwarded under /ts. Every path may \
        answer 429 over the per-client rate limit, with Retry-After."
    ),
    paths(crate::gateway_status, crate::lobby_status),
    components(schemas(StatusBody, Detail, Invalid))
)]
struct GatewayDoc;

/// The lobby service's paths, served both at the root and under `/ls`.
#[derive(OpenApi)]
#[openapi(
    paths(
        crate::lobbies::list,
        crate::lobbies::show,
        crate::lobbies::create,
        crate::lobbies::remove,
        crate::lobbies::start_booking,
        crate::ws::connect,
    ),
    components(schemas(
        NewLobby,
        NewBooking,
        crate::lobbies::LobbyView,
        crate::lobbies::BookingStarted,
        Detail,
        Invalid,
    ))
)]
struct LobbyDoc;

/// The whole document, built anew for each request (it is small and rarely asked for).
pub(crate) fn api() -> Document {
    let lobbies = LobbyDoc::openapi();
    let under_ls = with_operation_prefix(lobbies.clone(), "ls_");
    let mut forwarded = with_operation_prefix(command_api::openapi::api(), "ts_");
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

pub(crate) async fn document() -> Json<Document> {
    Json(api())
}

pub(crate) fn docs() -> utoipa_scalar::Scalar<Document> {
    use utoipa_scalar::Servable;
    utoipa_scalar::Scalar::with_url("/docs", api())
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
