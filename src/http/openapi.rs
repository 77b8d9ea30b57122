//! The OpenAPI document of the partner API, served at `GET /api/v1/openapi.json`.

use super::api::v1::{channels, conversations, organization};
use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Parley partner API", description = "Channels, conversations and messages of one organisation. Authenticate with `Authorization: Bearer <api key>`."),
    paths(
        channels::create, channels::list, channels::read, channels::delete,
        conversations::list, conversations::read, conversations::messages,
        organization::read, organization::update,
        super::api::v1::goals::create, super::api::v1::goals::list, super::api::v1::goals::read,
        super::api::v1::goals::update, super::api::v1::goals::add_milestone,
        super::api::v1::goals::update_milestone, super::api::v1::goals::events,
        super::api::v1::goals::stats,
    ),
    components(schemas(
        channels::ChannelView, channels::ChannelList,
        conversations::ConversationList, conversations::MessageList,
        organization::OrganizationView,
        super::api::v1::goals::GoalList, super::api::v1::goals::GoalEventList,
        super::api::v1::goals::GoalStats, super::api::v1::goals::MilestoneStats,
        super::api::v1::goals::DayCount, crate::store::goals::GoalRecord,
        crate::store::goals::MilestoneRecord, crate::store::goals::GoalEventRecord,
        super::error::ErrorBody, super::error::ErrorDetail, super::error::Code,
    )),
    modifiers(&ApiKeyAuth),
    tags(
        (name = "channels", description = "Messaging channels of the organisation"),
        (name = "conversations", description = "Conversations and their messages"),
        (name = "organization", description = "Organisation settings"),
        (name = "goals", description = "Business outcomes, their milestones and trackers, and the events journeys record"),
    )
)]
pub struct ApiDoc;

struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub(super) async fn spec() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
